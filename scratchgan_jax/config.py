"""The experiment configuration: one frozen dataclass, validated once.

The library never reads flags. `launch.py` defines one absl flag per field of
`Config` (same name, same default, help text from the field's metadata) and
builds a `Config` from them; a notebook builds one directly:

    cfg = Config(dataset='oracle', num_steps=100)
"""
from __future__ import annotations

import dataclasses
import json
from typing import Any


class ConfigError(ValueError):
  """A user-caused configuration error (bad flag value, contradictory flags)."""


def _f(default, help_text: str, choices: tuple[str, ...] | None = None):
  return dataclasses.field(
      default=default, metadata={'help': help_text, 'choices': choices})


# Config fields that name files or folders.
PATH_FIELDS = ('data_dir', 'train_path', 'valid_path', 'oracle_params',
               'embedding_path', 'tfds_data_dir')


def _absolute(path: str) -> str:
  import os  # pylint: disable=g-import-not-at-top
  return os.path.abspath(os.path.expanduser(path)) if path else path


@dataclasses.dataclass(frozen=True)
class Config:
  """Everything that defines a run. Field names are the flag names."""

  # --- What to do ----------------------------------------------------------
  objective: str = _f('gan', 'Training objective: the ScratchGAN REINFORCE GAN '
                      'or the maximum-likelihood (teacher forcing) baseline.',
                      ('gan', 'mle'))
  seed: int = _f(0, 'Seed for parameters, data order, sampling and the oracle.')

  # --- Data ----------------------------------------------------------------
  dataset: str = _f('oracle', 'oracle | emnlp2017 | text | tfds:NAME')
  data_dir: str = _f('', 'emnlp2017: folder with train.json and valid.json '
                     '(and optionally test.json).')
  train_path: str = _f('', 'text: training file, one sentence per line. '
                       'emnlp2017: a ScratchGAN JSON file read instead of '
                       'DATA_DIR/train.json (e.g. the 12.5k-sentence subset).')
  valid_path: str = _f('', 'text: validation file, one sentence per line. '
                       'emnlp2017: a JSON file read instead of DATA_DIR/valid.json.')
  lowercase: bool = _f(False, 'text/tfds: lowercase sentences before splitting.')
  max_length: int = _f(52, 'Maximum sequence length in tokens, including the '
                       'final PAD (52 for EMNLP2017). The oracle uses '
                       '`oracle_length` instead.')
  max_vocab_size: int = _f(20000, 'Vocabulary truncation (most frequent words).')
  skip_long_sentences: bool = _f(False, 'Drop sentences longer than max_length '
                                 'instead of stopping with an error.')
  min_sentence_tokens: int = _f(0, 'text/tfds: drop sentences with fewer tokens '
                                '(7 for WikiText-103 in the paper).')
  allow_data_change: bool = _f(False, 'Resume a run even though its training '
                               'data changed (content hash) since it started.')
  shuffle: bool = _f(True, 'Shuffle the training set every epoch (seeded). '
                     'The original code reads it sequentially (False).')
  tfds_data_dir: str = _f('', 'tfds: data_dir of the prepared dataset.')
  tfds_text_key: str = _f('text', 'tfds: feature holding the sentence.')
  tfds_train_split: str = _f('train', 'tfds: training split.')
  tfds_valid_split: str = _f('validation', 'tfds: validation split.')

  # --- Synthetic oracle ----------------------------------------------------
  oracle_params: str = _f('', 'Path to a SeqGAN-format oracle (.npz with '
                          'g_embeddings, Wi..bo). Empty: a random N(0,1) oracle '
                          'built from `oracle_seed`.')
  oracle_seed: int = _f(88, 'Seed of the random oracle LSTM and its data.')
  oracle_vocab_size: int = _f(5000, 'Random oracle: vocabulary size.')
  oracle_embedding_size: int = _f(32, 'Random oracle: embedding size.')
  oracle_hidden_size: int = _f(32, 'Random oracle: LSTM size.')
  oracle_length: int = _f(20, 'Oracle sequence length.')
  oracle_num_train: int = _f(10000, 'Oracle training sequences.')
  oracle_num_valid: int = _f(10000, 'Oracle held-out sequences (NLL-test).')

  # --- Embeddings ----------------------------------------------------------
  embedding_path: str = _f('', 'GloVe-format file (first line "count dim") '
                           'for the frozen part of both embedding matrices.')
  ppmi_embedding_size: int = _f(0, 'Beyond the paper, the offline stand-in '
                                'for GloVe: a frozen part of this size for both '
                                'embedding matrices, computed from the training '
                                'sequences alone (PPMI + SVD, data.ppmi_embeddings); '
                                '0: none.')
  ppmi_window: int = _f(5, 'Co-occurrence window of --ppmi_embedding_size.')
  trainable_embedding_size: int = _f(64, 'Trainable part of the embeddings.')
  train_pretrained_embedding: bool = _f(False, 'Original-code variant: the '
                                        'GloVe part is trained (paper: frozen).')

  # --- Generator -----------------------------------------------------------
  gen_feature_size: int = _f(512, 'Generator LSTM width.')
  num_layers_gen: int = _f(2, 'Generator LSTM layers (skip connections).')
  gen_embedding_dropout: float = _f(0.0, 'Dropout on the generator embedding '
                                    'matrix while training (MLE baseline).')
  gen_lr: float = _f(9.59e-5, 'Generator Adam learning rate.')
  gen_beta1: float = _f(0.5, 'Generator Adam beta1.')
  gen_loss_reduction: str = _f('sum', 'REINFORCE loss over time: `sum` (paper) '
                               'or `mean` over batch x time (original code). '
                               'Always averaged over the batch.', ('sum', 'mean'))
  l2_gen: float = _f(0.0, 'L2 weight on generator parameters.')

  # --- Discriminator -------------------------------------------------------
  disc_feature_size: int = _f(512, 'Discriminator LSTM width.')
  num_layers_disc: int = _f(1, 'Discriminator LSTM layers.')
  layer_norm_disc: bool = _f(True, 'Layer normalisation in the discriminator LSTM.')
  disc_dropout: float = _f(0.1, 'Dropout on the discriminator embedding matrix.')
  disc_lr: float = _f(9.38e-3, 'Discriminator Adam learning rate.')
  disc_beta1: float = _f(0.5, 'Discriminator Adam beta1.')
  l2_disc: float = _f(1e-6, 'L2 weight: l2_disc * sum(w^2)/2 over trainable '
                      'discriminator parameters.')
  position_signal: str = _f('paper', 'Discriminator position signal: `paper` '
                            '(sin 2*pi*t/T_i, T_i from 2 to 4*max_length), '
                            '`code` (the original cos variant) or `none`.',
                            ('paper', 'code', 'none'))

  # --- REINFORCE -----------------------------------------------------------
  gamma: float = _f(0.23, 'Discount of the dense rewards.')
  baseline_decay: float = _f(0.08, 'lambda of the moving-average baseline.')
  end_reward: str = _f('zero', 'Rewards after a sample ends (its first PAD): '
                      '`zero` (the original code: an ended sentence collects '
                      'nothing more, so when the discriminator wins, every reward '
                      'is negative and ending at once pays best; on real text the '
                      'generator can collapse to empty sentences) or `absorb` (the '
                      'end is an absorbing state: its reward repeats to max_length, '
                      'so a return does not depend on the sign of the rewards '
                      'through the length).', ('zero', 'absorb'))
  num_disc_updates: int = _f(1, 'Discriminator updates per step.')
  num_gen_updates: int = _f(1, 'Generator updates per step.')
  reuse_samples: bool = _f(False, 'Speed option: the generator update reuses '
                           "the discriminator update's samples (paper: fresh).")

  # --- Beyond the paper (all off by default: the paper's method) ----------
  baseline_type: str = _f('scalar', 'REINFORCE baseline: `scalar` (the paper: '
                          'one moving average of the mean return), `position` '
                          '(a moving average per time step) or `loo` (leave-one-'
                          'out: the mean return of the other samples at the same '
                          'step; no moving average) or `prefix` (the return the '
                          "discriminator's score of the prefix x_<t predicts, plus "
                          'a moving average per position of what is left).',
                          ('scalar', 'position', 'loo', 'prefix'))
  reward_type: str = _f('linear', "Per-token reward from the discriminator's "
                        'D_t = sigmoid(logit_t): `linear` (the paper: 2 D_t - 1, in '
                        '[-1, 1]) or `log` (log D_t, as MaskGAN: it keeps apart the '
                        'tokens that a winning discriminator scores near 0, which '
                        '2 D_t - 1 bunches near -1).', ('linear', 'log'))
  reward_source: str = _f('disc', 'Where the per-token rewards come from: `disc` (the '
                          "discriminator: the method), or, as a diagnostic on the synthetic "
                          "oracle only, the oracle's exact density in place of a learned "
                          'discriminator: `oracle_log_ratio` (r_t = log p_oracle(x_t|x_<t) - '
                          'log p_gen(x_t|x_<t); with --gamma=1 REINFORCE then follows the '
                          'gradient of KL(gen || oracle)) or `oracle_token_disc` (r_t = '
                          '2 D*_t - 1 with D*_t = p_oracle / (p_oracle + p_gen) of the token '
                          "given its prefix: the Bayes-optimal per-token discriminator, in "
                          "the paper's reward range). The discriminator is still trained and "
                          'logged. Measures how far the estimator gets with a perfect signal.',
                          ('disc', 'oracle_log_ratio', 'oracle_token_disc'))
  normalize_advantages: bool = _f(False, 'Divide the advantages (return - '
                                  'baseline) by their standard deviation over '
                                  'the batch, so the generator signal keeps its '
                                  'scale when the discriminator wins.')
  gen_updates_per_batch: int = _f(1, 'Generator updates on each sampled batch '
                                  '(1: the paper). Above 1, updates after the '
                                  "first use PPO's clipped ratio (--ppo_clip) "
                                  'against the policy that drew the batch.')
  ppo_clip: float = _f(0.2, 'Clip range of the probability ratio when '
                       '--gen_updates_per_batch > 1.')
  entropy_bonus: float = _f(0.0, 'Weight of an entropy bonus in the generator '
                            'loss: minus this times the exact entropy of each '
                            "step's distribution, reduced like the REINFORCE "
                            'loss (0: none, the paper).')
  reward_candidates: int = _f(0, 'Beyond the paper: at each step the discriminator also '
                              "scores the generator's k most likely tokens in place of the "
                              "sampled one, and the immediate reward's part of the gradient "
                              'is summed over them (plus the sampled token where it is not '
                              'one of them); the rest of the return, gamma R_{t+1}, goes '
                              'through REINFORCE as before. 0: off, the paper.')
  mle_weight: float = _f(0.0, 'Beyond the paper and no longer from scratch: add this '
                         "times the teacher-forced NLL of the step's real batch to the "
                         'generator loss, reduced like the REINFORCE loss (summed over '
                         'time, averaged over the batch, with --gen_loss_reduction=sum); '
                         '0: none, the paper. Measures what the adversarial signal adds '
                         'to maximum likelihood.')
  disc_skip_margin: float = _f(0.0, 'Skip the discriminator update of a step when '
                               'it already separates the batches by more than this: '
                               'mean D(real) - mean D(fake) > margin, both measured '
                               'before the update (0: never; e.g. 0.75 keeps the '
                               'discriminator from running away from the generator).')
  gen_ema: float = _f(0.0, "Decay of an exponential moving average of the generator's "
                      'parameters, updated after every step (0: none, the paper; e.g. '
                      '0.995 averages about the last 200 steps). Training is unchanged; '
                      'evaluation, model selection, sampling and --mode=evaluate use the '
                      'average (Polyak averaging; Yazici et al., ICLR 2019, for GANs). May be '
                      'switched on when resuming: the average then starts at the '
                      'restored generator.')

  gen_lr_decay: str = _f('none', "Schedule of the generator's learning rate: `none` "
                        '(constant, the paper), `linear` or `cosine`: --gen_lr until '
                        '--gen_lr_decay_start x num_steps, then falling to '
                        '--gen_lr_final x --gen_lr at num_steps. It scales the '
                        "generator's Adam step only (the discriminator keeps its "
                        'rate), so it may be switched on when resuming; it follows '
                        'num_steps, so a resumed run with another num_steps gets '
                        'another schedule.', ('none', 'linear', 'cosine'))
  gen_lr_decay_start: float = _f(0.5, 'Fraction of num_steps at which --gen_lr_decay '
                                 'starts.')
  gen_lr_final: float = _f(0.1, "The generator's learning rate at num_steps under "
                           '--gen_lr_decay, as a fraction of --gen_lr.')

  # --- Loop ----------------------------------------------------------------
  batch_size: int = _f(512, 'Global batch size (split over all devices).')
  early_batch_size: int = _f(0, 'Beyond the paper: the global batch size of the first '
                             '--early_batch_steps steps, then --batch_size (0: '
                             '--batch_size throughout). A batch-size warm-up: a small '
                             'batch is as good per step early in training, when the '
                             'number of updates limits, and cheaper (RESULTS.md 7.2).')
  early_batch_steps: int = _f(0, 'Steps trained at --early_batch_size.')
  num_steps: int = _f(200000, 'Training steps.')
  log_every: int = _f(100, 'Steps between metric logs.')
  checkpoint_every: int = _f(1000, 'Steps between checkpoints.')
  keep_checkpoints: int = _f(3, 'Latest checkpoints kept (the best is kept too).')
  eval_every: int = _f(1000, 'Steps between evaluations (samples, model '
                       'selection metric).')
  num_eval_samples: int = _f(1000, 'Samples drawn at each evaluation during training.')
  selection_metric: str = _f('auto', 'Metric that picks the best checkpoint: '
                             '`auto` (nll_oracle for the oracle, fed otherwise), '
                             'nll_oracle, fed, valid_nll or none.',
                             ('auto', 'nll_oracle', 'fed', 'valid_nll', 'none'))
  fed_encoder: str = _f('use', 'Sentence encoder for FED: use | minilm.',
                        ('use', 'minilm'))

  # --- Parallelism ---------------------------------------------------------
  distributed: bool = _f(False, 'Call jax.distributed.initialize (multi-host).')
  coordinator_address: str = _f('', 'host:port of process 0 (multi-host).')
  num_processes: int = _f(0, 'Number of processes (0: from the environment).')
  process_id: int = _f(-1, 'This process (-1: from the environment).')
  num_devices: int = _f(0, 'Use only the first N devices (0: all).')
  compute_dtype: str = _f('float32', 'Matmul inputs in float32 or bfloat16 '
                          '(accumulation, gates, softmax and parameters stay '
                          'float32).', ('float32', 'bfloat16'))
  grad_chunks: int = _f(0, '0 (default): automatic microbatching, the fewest '
                        'batch chunks per device whose step fits '
                        '--memory_budget_gb (one chunk per device when it '
                        'fits: the fastest path). N: gradients are summed over '
                        'exactly N fixed chunks in a fixed order, so results '
                        'are bit-identical on every device count that divides '
                        'N (must be a multiple of the device count).')
  memory_budget_gb: float = _f(0.0, 'Memory one update step may use per device, '
                               'in GiB, for automatic microbatching (0: 60% of '
                               "an accelerator's memory, 25% of host RAM on CPU).")

  def with_absolute_paths(self) -> 'Config':
    """This config with every file path made absolute (from the current
    directory), so a workdir's config.json works from anywhere."""
    return dataclasses.replace(self, **{
        k: _absolute(getattr(self, k)) for k in PATH_FIELDS})

  def replace(self, **kw) -> 'Config':
    return dataclasses.replace(self, **kw)

  def to_dict(self) -> dict[str, Any]:
    return dataclasses.asdict(self)

  def to_json(self) -> str:
    return json.dumps(self.to_dict(), indent=2, sort_keys=True)

  @classmethod
  def from_dict(cls, d: dict[str, Any]) -> 'Config':
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(d) - names)
    if unknown:
      raise ConfigError(f'unknown config keys: {", ".join(unknown)}')
    return cls(**d)

  @property
  def is_oracle(self) -> bool:
    return self.dataset == 'oracle'

  @property
  def sequence_length(self) -> int:
    return self.oracle_length if self.is_oracle else self.max_length

  @property
  def effective_selection_metric(self) -> str:
    if self.selection_metric != 'auto':
      return self.selection_metric
    return 'nll_oracle' if self.is_oracle else 'fed'

  @classmethod
  def for_model(cls, **kw) -> 'Config':
    """A config that describes the networks and the update step only, with no
    data to read (`dataset='text'`, `train_path='-'` unless given): for building
    models in notebooks, benchmarks and tests."""
    return cls(**{'dataset': 'text', 'train_path': '-', **kw})

  def validate(self) -> 'Config':
    """Raises ConfigError naming the flag for any bad or contradictory value."""
    for f in dataclasses.fields(self):
      choices = f.metadata.get('choices')
      if choices and getattr(self, f.name) not in choices:
        raise ConfigError(f'--{f.name}={getattr(self, f.name)!r}: must be one '
                          f'of {", ".join(choices)}')
    ds = self.dataset
    if not (ds in ('oracle', 'emnlp2017', 'text') or ds.startswith('tfds:')):
      raise ConfigError(f'--dataset={ds!r}: must be oracle, emnlp2017, text '
                        'or tfds:NAME')
    if ds == 'emnlp2017' and not self.data_dir and not (self.train_path and
                                                        self.valid_path):
      raise ConfigError('--dataset=emnlp2017 needs --data_dir (a folder with '
                        'train.json and valid.json) or both --train_path and '
                        '--valid_path (ScratchGAN JSON files)')
    if ds == 'text' and not self.train_path:
      raise ConfigError('--dataset=text needs --train_path (one sentence per line)')
    if ds not in ('text', 'emnlp2017') and (self.train_path or self.valid_path):
      raise ConfigError(f'--train_path/--valid_path only apply to '
                        f'--dataset=text or emnlp2017, not --dataset={ds}')
    if self.ppmi_embedding_size and self.embedding_path:
      raise ConfigError('--ppmi_embedding_size and --embedding_path both name the '
                        'frozen embedding part; pass one')
    if ds == 'oracle' and self.embedding_path:
      raise ConfigError('--embedding_path has no meaning for --dataset=oracle '
                        '(token ids have no words)')
    if self.oracle_params and ds != 'oracle':
      raise ConfigError('--oracle_params needs --dataset=oracle')
    positive = ['batch_size', 'num_steps', 'log_every', 'checkpoint_every',
                'keep_checkpoints', 'eval_every', 'num_eval_samples',
                'gen_feature_size', 'num_layers_gen', 'disc_feature_size',
                'num_layers_disc', 'max_length', 'max_vocab_size',
                'oracle_vocab_size', 'oracle_embedding_size',
                'oracle_hidden_size', 'oracle_length', 'oracle_num_train',
                'oracle_num_valid', 'num_disc_updates', 'num_gen_updates',
                'gen_updates_per_batch']
    for name in positive:
      if getattr(self, name) <= 0:
        raise ConfigError(f'--{name}={getattr(self, name)}: must be > 0')
    for name in ('seed', 'oracle_seed', 'num_devices', 'early_batch_size',
                 'early_batch_steps'):
      if getattr(self, name) < 0:
        raise ConfigError(f'--{name}={getattr(self, name)}: must be >= 0')
    if self.grad_chunks < 0:
      raise ConfigError(f'--grad_chunks={self.grad_chunks}: must be >= 0 '
                        '(0: automatic)')
    if self.memory_budget_gb < 0:
      raise ConfigError(f'--memory_budget_gb={self.memory_budget_gb}: must be >= 0 '
                        '(0: the platform default)')
    if self.grad_chunks and self.batch_size % self.grad_chunks:
      raise ConfigError(f'--batch_size={self.batch_size} is not divisible by '
                        f'--grad_chunks={self.grad_chunks}')
    if bool(self.early_batch_size) != bool(self.early_batch_steps):
      raise ConfigError(f'--early_batch_size={self.early_batch_size} and '
                        f'--early_batch_steps={self.early_batch_steps}: set both '
                        '(a batch size and how many steps it lasts) or neither')
    if (self.early_batch_size and self.grad_chunks
        and self.early_batch_size % self.grad_chunks):
      raise ConfigError(f'--early_batch_size={self.early_batch_size} is not divisible '
                        f'by --grad_chunks={self.grad_chunks}')
    if self.max_length < 2:
      raise ConfigError(f'--max_length={self.max_length}: must be >= 2')
    if self.trainable_embedding_size < 0:
      raise ConfigError('--trainable_embedding_size must be >= 0')
    if self.ppmi_embedding_size < 0 or self.ppmi_window <= 0:
      raise ConfigError(f'--ppmi_embedding_size={self.ppmi_embedding_size} must be '
                        f'>= 0 and --ppmi_window={self.ppmi_window} > 0')
    if (self.trainable_embedding_size == 0 and not self.embedding_path
        and not self.ppmi_embedding_size):
      raise ConfigError('--trainable_embedding_size=0 needs --embedding_path or '
                        '--ppmi_embedding_size (the embedding would be empty)')
    for name in ('gamma', 'baseline_decay'):
      v = getattr(self, name)
      if not 0.0 <= v <= 1.0:
        raise ConfigError(f'--{name}={v}: must be in [0, 1]')
    for name in ('disc_dropout', 'gen_embedding_dropout'):
      v = getattr(self, name)
      if not 0.0 <= v < 1.0:
        raise ConfigError(f'--{name}={v}: must be in [0, 1)')
    for name in ('gen_lr', 'disc_lr'):
      if getattr(self, name) <= 0:
        raise ConfigError(f'--{name}={getattr(self, name)}: must be > 0')
    for name in ('l2_gen', 'l2_disc', 'entropy_bonus', 'mle_weight'):
      if getattr(self, name) < 0:
        raise ConfigError(f'--{name} must be >= 0')
    if self.reward_candidates < 0:
      raise ConfigError(f'--reward_candidates={self.reward_candidates}: must be >= 0')
    if self.reward_candidates and (self.gen_updates_per_batch > 1
                                   or self.normalize_advantages):
      raise ConfigError('--reward_candidates does not combine with '
                        '--gen_updates_per_batch > 1 or --normalize_advantages')
    if self.reward_source != 'disc':
      if not self.is_oracle:
        raise ConfigError(f'--reward_source={self.reward_source} needs --dataset=oracle '
                          '(the exact density it rewards with)')
      if self.reward_candidates or self.reward_type != 'linear':
        raise ConfigError(f'--reward_source={self.reward_source} does not combine with '
                          "--reward_candidates or --reward_type (both act on the "
                          "discriminator's scores)")
    if not 0.0 < self.ppo_clip < 1.0:
      raise ConfigError(f'--ppo_clip={self.ppo_clip}: must be in (0, 1)')
    if not 0.0 <= self.gen_ema < 1.0:
      raise ConfigError(f'--gen_ema={self.gen_ema}: must be in [0, 1) (0: no average)')
    if not 0.0 <= self.gen_lr_decay_start < 1.0:
      raise ConfigError(f'--gen_lr_decay_start={self.gen_lr_decay_start}: must be in [0, 1)')
    if not 0.0 <= self.gen_lr_final <= 1.0:
      raise ConfigError(f'--gen_lr_final={self.gen_lr_final}: must be in [0, 1]')
    if not 0.0 <= self.disc_skip_margin < 1.0:
      raise ConfigError(f'--disc_skip_margin={self.disc_skip_margin}: must be in '
                        '[0, 1) (0: never skip)')
    if self.objective == 'mle' and (self.baseline_type != 'scalar' or
                                    self.reward_type != 'linear' or
                                    self.normalize_advantages or
                                    self.gen_updates_per_batch > 1 or
                                    self.disc_skip_margin or self.entropy_bonus
                                    or self.mle_weight or self.reward_candidates
                                    or self.reward_source != 'disc'):
      raise ConfigError('--baseline_type/--reward_type/--normalize_advantages/'
                        '--gen_updates_per_batch/--disc_skip_margin/--entropy_bonus/'
                        '--mle_weight/--reward_candidates/--reward_source apply to '
                        '--objective=gan only')
    sel = self.effective_selection_metric
    if sel == 'nll_oracle' and not self.is_oracle:
      raise ConfigError('--selection_metric=nll_oracle needs --dataset=oracle')
    if sel == 'valid_nll' and self.is_oracle:
      raise ConfigError('--selection_metric=valid_nll is for text datasets; the oracle '
                        'selects by nll_oracle')
    if sel == 'fed' and self.is_oracle:
      raise ConfigError('--selection_metric=fed has no meaning for the oracle '
                        '(token ids); use nll_oracle')
    return self
