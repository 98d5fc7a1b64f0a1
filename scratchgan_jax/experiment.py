"""Host-side loops over a workdir: train (with resume), sample.

Workdir layout:
  config.json          the config of the run (rewritten on resume)
  vocab.json           the vocabulary (text datasets)
  checkpoints/         ckpt_<step>.npz (latest N) and best.npz
  metrics.jsonl        one JSON object per logged step / evaluation
  samples/             step_<step>.txt readable samples at each evaluation
  summary.json/.md     start / end / best metrics of the run
  log.txt              the run's log
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import signal
import sys
import threading
import time

from absl import logging
import jax
import numpy as np

from scratchgan_jax import checkpoint as ckpt_lib
from scratchgan_jax import data as data_lib
from scratchgan_jax import encoders
from scratchgan_jax import inference
from scratchgan_jax import oracle as oracle_lib
from scratchgan_jax import parallel
from scratchgan_jax import train as train_lib
from scratchgan_jax import writers
from scratchgan_jax.config import PATH_FIELDS, Config, ConfigError

# Fields that may change when a run is resumed without changing what it is.
_RESUMABLE = {'num_steps', 'log_every', 'checkpoint_every', 'keep_checkpoints',
              'eval_every', 'num_eval_samples', 'distributed',
              'coordinator_address', 'num_processes', 'process_id', 'num_devices',
              'allow_data_change', 'memory_budget_gb', 'gen_ema', 'gen_lr_decay',
              'gen_lr_decay_start', 'gen_lr_final'}


class Interrupted(Exception):
  """SIGINT or SIGTERM stopped training after a whole step; `step` is saved."""

  def __init__(self, step: int, signum: int, saved: str | None):
    self.step, self.signum, self.saved = step, signum, saved
    self.exit_code = 128 + signum  # 130 for SIGINT, 143 for SIGTERM
    name = signal.Signals(signum).name
    if saved:
      msg = (f'{name}: interrupted at step {step}; checkpoint saved; rerun the same '
             'command to resume')
    else:
      msg = f'{name}: interrupted at step {step}, before any step ran; nothing to save'
    super().__init__(msg)


class StopSignals:
  """Within this context SIGINT/SIGTERM only set `signum`: the training loop
  finishes its step, saves and raises `Interrupted`. A second signal stops at
  once (the default action). Installed from the main thread of a
  single-process run."""

  SIGNALS = (signal.SIGINT, signal.SIGTERM)

  def __init__(self):
    self.signum = 0
    self._old = {}

  def _handle(self, signum, frame):  # pylint: disable=unused-argument
    if self.signum:  # a second signal: give up on the clean stop
      signal.signal(signum, signal.SIG_DFL)
      os.kill(os.getpid(), signum)
      return
    self.signum = signum
    # Not `logging`: a handler runs between two bytecodes of the main thread,
    # possibly inside a log handler's flush of the same buffered file, and a
    # second write there raises 'reentrant call'. A raw write to fd 2 takes no
    # Python-level lock; the loop logs the stop itself when it saves.
    msg = (f'{signal.Signals(signum).name} received: stopping after this step '
           '(send it again to stop at once).\n')
    try:
      os.write(sys.stderr.fileno(), msg.encode())
    except (AttributeError, OSError, ValueError):  # no real stderr (a notebook)
      pass

  def received(self) -> int:
    """The signal number if this process got one (0: none)."""
    return self.signum

  def __enter__(self):
    # Single-process runs only: processes of a multi-process run would stop at
    # different steps, and a per-step agreement is a collective that hangs when
    # a peer dies. They keep the default action; their restart resumes from
    # the last periodic checkpoint.
    if (threading.current_thread() is threading.main_thread()
        and jax.process_count() == 1):
      self._old = {s: signal.signal(s, self._handle) for s in self.SIGNALS}
    return self

  def __exit__(self, *exc):
    for s, h in self._old.items():
      signal.signal(s, h)


def data_fingerprint(run: 'Run') -> str:
  """sha256 of the token data (and oracle parameters) the run trains on."""
  h = hashlib.sha256()
  ds = run.dataset
  for a in (ds.train, ds.train_length, ds.valid, ds.valid_length):
    a = np.ascontiguousarray(a)
    h.update(str(a.shape).encode())
    h.update(a.tobytes())
  for k in sorted(run.oracle_params or {}):
    h.update(k.encode())
    h.update(np.ascontiguousarray(run.oracle_params[k], np.float32).tobytes())
  return h.hexdigest()[:16]


@dataclasses.dataclass
class Run:
  """A config made concrete: data, models, mesh."""
  cfg: Config
  dataset: data_lib.Dataset
  oracle_params: dict | None
  setup: train_lib.Setup
  mesh: object
  encoder: object = None  # sentence encoder for training-time FED
  fed_refs: object = None  # cached embeddings of the validation sentences


def load_dataset(cfg):
  """(Dataset, oracle params or None) for `cfg.dataset`. The dispatch lives here,
  above data.py and oracle.py (oracle builds on data, not the other way round)."""
  kw = dict(max_length=cfg.max_length, max_vocab_size=cfg.max_vocab_size,
            skip_long=cfg.skip_long_sentences)
  if cfg.is_oracle:
    params = (oracle_lib.load_oracle(cfg.oracle_params) if cfg.oracle_params
              else oracle_lib.random_oracle(cfg.oracle_seed, cfg.oracle_vocab_size,
                                            cfg.oracle_embedding_size,
                                            cfg.oracle_hidden_size))
    ds = oracle_lib.make_dataset(params, cfg.oracle_length, cfg.oracle_num_train,
                                 cfg.oracle_num_valid, cfg.oracle_seed)
    return ds, params
  if cfg.dataset == 'emnlp2017':
    return data_lib.load_emnlp2017(cfg.data_dir, train_path=cfg.train_path,
                                   valid_path=cfg.valid_path, **kw), None
  if cfg.dataset == 'text':
    return data_lib.load_text(cfg.train_path, cfg.valid_path, lowercase=cfg.lowercase,
                              min_tokens=cfg.min_sentence_tokens, **kw), None
  name = cfg.dataset.split(':', 1)[1]
  return data_lib.load_tfds(name, data_dir=cfg.tfds_data_dir, text_key=cfg.tfds_text_key,
                            train_split=cfg.tfds_train_split,
                            valid_split=cfg.tfds_valid_split, lowercase=cfg.lowercase,
                            min_tokens=cfg.min_sentence_tokens, **kw), None


def prepare(cfg: Config, dataset=None, oracle_params=None, training: bool = True) -> Run:
  cfg.validate()
  mesh = parallel.make_mesh(cfg.num_devices)
  if training:
    parallel.check_batch_size(cfg.batch_size, mesh)
    if cfg.early_batch_size:
      parallel.check_batch_size(cfg.early_batch_size, mesh, '--early_batch_size')
  if dataset is None:
    dataset, oracle_params = load_dataset(cfg)
  pretrained = data_lib.pretrained_embeddings(cfg, dataset)
  setup = train_lib.make_setup(cfg, dataset.vocab_size, pretrained, eos=dataset.eos,
                               oracle_params=oracle_params)
  return Run(cfg, dataset, oracle_params, setup, mesh)


def _is_chief() -> bool:
  return jax.process_index() == 0


def _check_workdir(cfg: Config, workdir: str, run: Run) -> None:
  path = os.path.join(workdir, 'config.json')
  if os.path.exists(path):
    with open(path, encoding='utf-8') as f:
      old = json.load(f)
    def same(k, v):
      was = old.get(k, v)
      # A run started before paths were stored absolute wrote them relative.
      return was == v or (k in PATH_FIELDS and was and os.path.abspath(was) == v)
    diff = sorted(k for k, v in cfg.to_dict().items()
                  if k not in _RESUMABLE and not same(k, v))
    if diff:  # with or without a checkpoint: its metrics.jsonl is that run's
      raise ConfigError(
          f'{workdir} holds a run with a different config ('
          + ', '.join(f'--{k}: {old.get(k)!r} -> {getattr(cfg, k)!r}' for k in diff[:5])
          + '); use a new --workdir to start another run')
  old_vocab = read_workdir_vocab(workdir)
  if run.dataset.vocab is not None and old_vocab is not None:
    if old_vocab != run.dataset.vocab:
      raise ConfigError(f'{_vocab_path(workdir)}: the vocabulary of this workdir '
                        f'({len(old_vocab)} words) does not match the data '
                        f'({len(run.dataset.vocab)} words); use a new --workdir')


def _vocab_path(workdir: str) -> str:
  return os.path.join(workdir, 'vocab.json')


def read_workdir_vocab(workdir: str) -> data_lib.Vocab | None:
  """The vocabulary a text run stored in its workdir (None if there is none)."""
  path = _vocab_path(workdir)
  if not os.path.exists(path):
    return None
  with open(path, encoding='utf-8') as f:
    return data_lib.Vocab.from_json(f.read())


def _evaluate(run: Run, gen_params, step: int, workdir: str | None) -> dict:
  """Training-time evaluation: samples + the model-selection metric."""
  cfg, ds = run.cfg, run.dataset
  seed = cfg.seed * 1_000_003 + step
  if run.oracle_params is not None:
    metrics, samples = inference.oracle_metrics(
        run.setup.gen, gen_params, run.oracle_params, ds.valid,
        cfg.num_eval_samples, seed)
  else:
    samples = inference.sample_tokens(run.setup.gen, gen_params,
                                     cfg.num_eval_samples, seed)
    metrics = {'valid_nll': inference.token_nll(run.setup.gen, gen_params,
                                               ds.valid, eos=True)}
    metrics['valid_ppl'] = float(np.exp(metrics['valid_nll']))
    if run.encoder is not None:
      from scratchgan_jax import metrics as metrics_lib
      if run.fed_refs is None:
        run.fed_refs = run.encoder(ds.valid_sentences[:cfg.num_eval_samples])
      emb = run.encoder([ds.decode(s) for s in samples])
      metrics['fed'] = metrics_lib.frechet_distance(emb, run.fed_refs)
  lengths = data_lib.lengths_from_sequences(samples, ds.eos)
  metrics['eval_sample_length'] = float(lengths.mean())
  if workdir and _is_chief():
    writers.write_samples(os.path.join(workdir, 'samples', f'step_{step:09d}.txt'),
                          [ds.decode(s) for s in samples])
  return metrics


def _finite(metrics: dict) -> list[str]:
  """Names of non-finite values; `params_finite` = 0 means the new parameters are not."""
  bad = [k for k, v in metrics.items()
         if isinstance(v, (int, float)) and not math.isfinite(float(v))]
  if metrics.get('params_finite', 1.0) != 1.0:
    bad.append('params_finite')
  return bad


def train(cfg: Config, workdir: str, run: Run | None = None) -> dict:
  """Trains (or resumes) the run in `workdir`; returns its summary."""
  chief = _is_chief()
  lock, error = None, None
  try:
    run = run or prepare(cfg)
    if chief:  # nothing is written before the data and config are known good
      os.makedirs(workdir, exist_ok=True)
      lock = ckpt_lib.WorkdirLock(workdir).acquire()
  except Exception as e:  # pylint: disable=broad-except
    error = e
  parallel.all_processes_ok(error is None, 'to load its data or workdir')
  if error is not None:
    raise error
  try:
    with StopSignals() as stop:
      return _train(run, workdir, chief, stop)
  finally:
    writers.stop_logging_to_file(workdir)
    if lock is not None:
      lock.release()


@dataclasses.dataclass
class OpenedWorkdir:
  """A workdir checked against its run: the metric writer, the state to start
  from (restored or fresh, on the host), the best model so far, the latest
  checkpoint and the fingerprints every checkpoint records."""
  writer: writers.MetricWriter
  state: train_lib.TrainState
  best: dict
  latest: str | None
  vocab_fp: str
  data_fp: str


def _open_workdir(run: Run, workdir: str, chief: bool) -> OpenedWorkdir:
  """Checks the workdir against the run, writes its config; restores the latest
  checkpoint."""
  cfg = run.cfg
  ckpt_dir = os.path.join(workdir, 'checkpoints')
  _check_workdir(cfg, workdir, run)
  if chief:
    os.makedirs(ckpt_dir, exist_ok=True)
    for d in (workdir, ckpt_dir):
      for f in ckpt_lib.clean_temporaries(d):
        logging.info('Removed %s, left by an interrupted write.', os.path.join(d, f))
    writers.log_to_file(workdir)
    ckpt_lib.atomic_write_text(os.path.join(workdir, 'config.json'), cfg.to_json())
    if run.dataset.vocab is not None:
      ckpt_lib.atomic_write_text(_vocab_path(workdir),
                                 run.dataset.vocab.to_json())
  writer = writers.MetricWriter(workdir, enabled=chief)
  vocab_fp = run.dataset.vocab.fingerprint() if run.dataset.vocab else 'oracle'
  data_fp = data_fingerprint(run)

  state = train_lib.init_state(run.setup, cfg.seed)
  latest = ckpt_lib.latest(ckpt_dir)
  best = {'value': math.inf, 'step': None}
  if latest:
    host_state, meta = restore_state(latest, parallel.to_host(state))
    if meta.get('vocab') != vocab_fp:
      raise ConfigError(f'{latest}: checkpoint vocabulary does not match the data')
    if meta.get('data', data_fp) != data_fp and not cfg.allow_data_change:
      raise ConfigError(
          f'{latest}: the training data changed since this run started (content hash '
          f'{meta.get("data")} -> {data_fp}: edited, reordered or regenerated files); '
          'resuming would not be the same run. Use a new --workdir, or '
          '--allow_data_change to resume anyway')
    best = meta.get('best', best)
    if (host_state.gen_ema is not None) != bool(cfg.gen_ema):
      # --gen_ema switched on (the average starts at the restored parameters)
      # or off: earlier evaluations scored another generator, so model
      # selection starts again from here.
      host_state = host_state._replace(gen_ema=(
          jax.tree.map(np.copy, host_state.gen_params) if cfg.gen_ema else None))
      best = {'value': math.inf, 'step': None}
      logging.info('--gen_ema=%s from step %d on: %s; best-checkpoint selection '
                   'restarts', cfg.gen_ema, meta['step'],
                   'the average starts at the restored generator' if cfg.gen_ema
                   else 'the stored average is dropped')
    state = host_state
    writer.truncate_after(meta['step'])
    writer.open_tensorboard(purge_step=int(meta['step']) + 1)
    logging.info('resuming from step %d (%s)', meta['step'], latest)
  else:
    logging.info('starting fresh: no checkpoint in %s', ckpt_dir)
    writer.truncate_after(-1)  # rows of an attempt killed before its first checkpoint
    writer.open_tensorboard(purge_step=0)
  return OpenedWorkdir(writer, state, best, latest, vocab_fp, data_fp)


# ----------------------------------------------------------------------------
# The training loop's periodic actions (in the spirit of jaxline / clu): each
# owns one concern and its state, and can be driven alone in a test.


class Checkpointer:
  """Writes full-state checkpoints (chief only) and remembers the last one,
  which the errors of a stopped run name."""

  def __init__(self, run: Run, workdir: str, opened: OpenedWorkdir, chief: bool):
    self.cfg, self.chief = run.cfg, chief
    self.dir = os.path.join(workdir, 'checkpoints')
    self.opened = opened
    self.last_saved = opened.latest

  def save(self, state, step: int, is_best: bool = False) -> str | None:
    if not self.chief:
      return None
    meta = {'vocab': self.opened.vocab_fp, 'data': self.opened.data_fp,
            'best': self.opened.best, 'data_position': step, 'config': self.cfg.to_dict()}
    path = ckpt_lib.save(self.dir, step, parallel.to_host(state), meta,
                         self.cfg.keep_checkpoints, best=is_best)
    self.last_saved = path or self.last_saved
    return path

  def ensure(self, state, step: int) -> None:
    """Saves step `step` unless it is saved already (e.g. as the new best)."""
    if self.last_saved != ckpt_lib.path_for(self.dir, step):
      self.save(state, step)

  def stopped(self, what: str) -> train_lib.TrainingError:
    return train_lib.TrainingError(
        f'{what}; stopped. Last good checkpoint kept: {self.last_saved or "none"}')


class MetricLogger:
  """Every --log_every steps (and at evaluations and checkpoints): pulls the
  step's metrics to the host, stops on a non-finite one, writes them and logs
  them; in between, a progress line after the first step and at least once a
  minute."""

  def __init__(self, cfg: Config, writer: writers.MetricWriter, ckpt: Checkpointer,
               progress: writers.Progress):
    self.cfg, self.writer, self.ckpt, self.progress = cfg, writer, ckpt, progress
    self.start = progress.start_step
    self.t_log, self.s_log = time.time(), self.start
    self.t_said = time.time()

  def __call__(self, step: int, metrics, force: bool) -> None:
    cfg = self.cfg
    self.progress.update(step)
    if step == self.start + 1 or time.time() - self.t_said > 60:
      # Progress within the first minute whatever --log_every is: the first
      # step (it includes compiling) and then at least once a minute.
      jax.block_until_ready(metrics)
      sps, eta = self.progress.rate(step)
      if step == self.start + 1:
        logging.info('step %d/%d done in %.0f s (compiling included)', step,
                     cfg.num_steps, time.time() - self.progress.t0)
      elif step % cfg.log_every:
        logging.info('step %d/%d  %.2f steps/s  ETA %s', step, cfg.num_steps, sps,
                     writers.format_seconds(eta))
      self.t_said = time.time()
    if not (step % cfg.log_every == 0 or force):
      return
    m = {k: float(v) for k, v in parallel.to_host(metrics).items()}
    bad = _finite(m)
    if bad:  # checked before the state is used (evaluated or saved)
      self.progress.close()
      what = ', '.join('parameters' if k == 'params_finite' else f'{k}={m[k]}'
                       for k in bad)
      raise self.ckpt.stopped(f'non-finite {what} at step {step}')
    m.pop('params_finite', None)
    now = time.time()
    m['steps_per_s'] = (step - self.s_log) / max(now - self.t_log, 1e-9)
    self.t_log, self.s_log = now, step
    _, eta = self.progress.rate(step)
    self.writer.write(step, m)
    if step % cfg.log_every == 0 or step == cfg.num_steps:
      # The rate printed is the one written to metrics.jsonl (since its last row).
      logging.info('step %d/%d  %s  %.2f steps/s  ETA %s', step, cfg.num_steps,
                   '  '.join(f'{k}={v:.4g}' for k, v in m.items() if k != 'steps_per_s'),
                   m['steps_per_s'], writers.format_seconds(eta))
      self.t_said = now


class BestModelSelector:
  """Every --eval_every steps: evaluates the generator, writes the evaluation
  and its first samples, and saves the checkpoint as the best when the
  selection metric improves (never step 0, the untrained model)."""

  def __init__(self, run: Run, workdir: str, writer: writers.MetricWriter,
               ckpt: Checkpointer, best: dict, metric: str, chief: bool):
    self.run, self.workdir, self.writer, self.ckpt = run, workdir, writer, ckpt
    self.best, self.metric, self.chief = best, metric, chief

  def __call__(self, state, step: int) -> None:
    ev = _evaluate(self.run, state.eval_params, step, self.workdir)
    bad = _finite(ev)
    if bad:
      raise self.ckpt.stopped('non-finite evaluation '
                              f'{", ".join(f"{k}={ev[k]}" for k in bad)} at step {step}')
    self.writer.write(step, {'eval': True, **ev})
    sample_file = os.path.join(self.workdir, 'samples', f'step_{step:09d}.txt')
    if self.chief and os.path.exists(sample_file):
      with open(sample_file, encoding='utf-8') as f:
        first = [next(f, '').rstrip('\n') for _ in range(8)]
      self.writer.write_text(step, 'samples', '\n\n'.join(f'`{l}`' for l in first))
    logging.info('eval step %d: %s', step, ', '.join(f'{k}={v:.4f}' for k, v in ev.items()))
    sel = self.metric
    if sel in ev and ev[sel] < self.best['value'] and self.chief and step > 0:
      self.best.update(value=float(ev[sel]), step=step, metric=sel)
      self.ckpt.save(state, step, is_best=True)


def _selection_metric(run: Run) -> str:
  """The metric that picks the best checkpoint; loads FED's encoder if it is FED."""
  cfg = run.cfg
  sel = cfg.effective_selection_metric
  if sel == 'fed':
    try:
      run.encoder = encoders.make_encoder(cfg.fed_encoder)
    except encoders.EncoderUnavailable as e:
      if cfg.selection_metric == 'fed':
        raise ConfigError(f'--selection_metric=fed: {e}') from None
      logging.warning('FED unavailable (%s); selecting the best checkpoint by '
                      'validation NLL instead.', e)
      sel = 'valid_nll'
  return sel


def _train(run: Run, workdir: str, chief: bool, stop: StopSignals | None = None) -> dict:
  cfg = run.cfg
  opened, error = None, None
  try:
    opened = _open_workdir(run, workdir, chief)
  except Exception as e:  # pylint: disable=broad-except
    error = e
  parallel.all_processes_ok(error is None, 'to open the workdir or its checkpoint')
  if error is not None:
    raise error
  state = parallel.replicate(opened.state, run.mesh)
  start = int(parallel.to_host(state.step))
  update = train_lib.compile_update(run.setup, run.mesh)
  # --early_batch_size: the first steps' batch has its own shape, chunk count and step.
  early_update = (train_lib.compile_update(dataclasses.replace(
      run.setup, cfg=cfg.replace(batch_size=cfg.early_batch_size)), run.mesh)
      if cfg.early_batch_size and start < cfg.early_batch_steps else None)
  ckpt = Checkpointer(run, workdir, opened, chief)
  select = BestModelSelector(run, workdir, opened.writer, ckpt, opened.best,
                             _selection_metric(run), chief)
  n_params = sum(x.size for x in jax.tree.leaves(state.gen_params))
  logging.info('Run: %s objective=%s dataset=%s vocab=%d T=%d batch=%s devices=%d '
               'processes=%d generator params=%d', workdir, cfg.objective,
               cfg.dataset, run.dataset.vocab_size, run.setup.max_length,
               (f'{cfg.early_batch_size} to step {cfg.early_batch_steps}, then '
                f'{cfg.batch_size}' if cfg.early_batch_size else cfg.batch_size),
               run.mesh.size, jax.process_count(), n_params)
  if start >= cfg.num_steps:
    logging.warning('%s is already at step %d, at or past --num_steps=%d: nothing to '
                    'train; the summary below is that run\'s. Raise --num_steps to '
                    'train on.', workdir, start, cfg.num_steps)
  progress = writers.Progress(start, cfg.num_steps)  # its clock includes step 0's evaluation
  if start == 0:
    select(state, 0)
  if stop is not None and stop.received():  # while compiling or evaluating
    progress.close()
    opened.writer.close()
    raise Interrupted(start, stop.received(), opened.latest)
  log = MetricLogger(cfg, opened.writer, ckpt, progress)
  for step in range(start + 1, cfg.num_steps + 1):
    size, pos = data_lib.batch_schedule(step - 1, cfg.batch_size, cfg.early_batch_size,
                                        cfg.early_batch_steps)
    batch = data_lib.get_batch(run.dataset.train, run.dataset.train_length,
                               step=step - 1, batch_size=size, start=pos,
                               seed=cfg.seed, shuffle=cfg.shuffle,
                               process_index=jax.process_index(),
                               process_count=jax.process_count())
    step_fn = early_update if step <= cfg.early_batch_steps else update
    state, metrics = step_fn(state, parallel.shard_batch(batch, run.mesh))
    if step == cfg.early_batch_steps:
      early_update = None  # its executable is not needed again
    is_last = step == cfg.num_steps
    is_eval = step % cfg.eval_every == 0 or is_last
    is_ckpt = step % cfg.checkpoint_every == 0 or is_last
    log(step, metrics, force=is_eval or is_ckpt)
    if is_eval:
      select(state, step)
    if is_ckpt:
      ckpt.ensure(state, step)
    signum = stop.received() if stop is not None else 0
    if signum and not is_last:
      progress.close()
      ckpt.ensure(state, step)
      opened.writer.close()
      raise Interrupted(step, signum, ckpt.last_saved or ckpt_lib.path_for(ckpt.dir, step))
  progress.close()
  opened.writer.close()
  return summarize(workdir, opened.writer.read(), opened.best, cfg) if chief else {}


def summarize(workdir: str, rows: list[dict], best: dict, cfg: Config) -> dict:
  """summary.json and summary.md: metrics of the untrained, final and best model."""
  evals = [r for r in rows if r.get('eval')]
  if not evals:
    return {}
  first, last = evals[0], evals[-1]
  keys = [k for k in last if k not in ('step', 'eval')]
  summary = {
      'workdir': workdir, 'objective': cfg.objective, 'dataset': cfg.dataset,
      'untrained_step': first['step'], 'final_step': last['step'],
      'untrained': {k: first.get(k) for k in keys},
      'final': {k: last.get(k) for k in keys},
      'best': best,
  }
  ckpt_lib.atomic_write_text(os.path.join(workdir, 'summary.json'),
                             json.dumps(summary, indent=2))
  lines = [f'# {cfg.objective.upper()} on {cfg.dataset}', ''] + writers.markdown_table(
      ['metric', f'untrained (step {first["step"]})', f'final (step {last["step"]})'],
      [[k, f'{first.get(k, float("nan")):.4f}', f'{last[k]:.4f}'] for k in keys])
  if best.get('step') is not None:
    lines += ['', f'Best checkpoint: step {best["step"]} '
              f'({best.get("metric")} = {best["value"]:.4f}), '
              f'`{os.path.join(workdir, "checkpoints", "best.npz")}`']
  ckpt_lib.atomic_write_text(os.path.join(workdir, 'summary.md'), '\n'.join(lines) + '\n')
  return summary


# ----------------------------------------------------------------------------
# Using a trained run.


def load_config(workdir: str) -> Config:
  path = os.path.join(workdir, 'config.json')
  if not os.path.exists(path):
    raise ConfigError(f'{path}: not found; --workdir must be a training run')
  try:
    with open(path, encoding='utf-8') as f:
      return Config.from_dict(json.load(f))
  except (json.JSONDecodeError, TypeError) as e:
    raise ConfigError(f'{path}: unreadable config ({e})') from None


def resolve_checkpoint(workdir: str, checkpoint: str = '', prefer_best: bool = True) -> str:
  """`checkpoint` if given, else the run's best checkpoint, else its latest."""
  if checkpoint:
    return checkpoint
  ckpt_dir = os.path.join(workdir, 'checkpoints')
  best = os.path.join(ckpt_dir, 'best.npz')
  if prefer_best and os.path.exists(best):
    return best
  path = ckpt_lib.latest(ckpt_dir)
  if path is None:
    raise ckpt_lib.CheckpointError(f'{ckpt_dir}: no checkpoint found')
  return path


def _run_from_workdir(cfg: Config, workdir: str, path: str) -> Run:
  """A Run built from the workdir alone (config, vocab.json, checkpoint): what
  sampling needs, without the training data or the oracle's files."""
  vocab = None
  if not cfg.is_oracle:
    vocab = read_workdir_vocab(workdir)
    if vocab is None:
      raise ConfigError(f'{_vocab_path(workdir)}: not found; a text run keeps its '
                        'vocabulary there')
  bias = ckpt_lib.stored_shapes(path, ".gen_params['generator']['out_bias']")
  if not bias:
    raise ckpt_lib.CheckpointError(f'{path}: not a scratchgan-jax checkpoint (no '
                                   'generator parameters)')
  vocab_size = next(iter(bias.values()))[0]
  pre = ckpt_lib.stored_shapes(path, ".gen_params['generator']['pretrained_embedding']")
  # The frozen GloVe part is stored in the checkpoint: a placeholder of its
  # shape is enough to build the model that the checkpoint then fills.
  pretrained = np.zeros(next(iter(pre.values())), np.float32) if pre else None
  T = cfg.sequence_length
  empty = np.zeros((0, T), np.int32)
  ds = data_lib.Dataset(cfg.dataset, empty, np.zeros((0,), np.int32), empty,
                        np.zeros((0,), np.int32), vocab, vocab_size, not cfg.is_oracle)
  setup = train_lib.make_setup(cfg, vocab_size, pretrained, eos=ds.eos)
  return Run(cfg, ds, None, setup, parallel.make_mesh(cfg.num_devices))


def restore_state(path: str, template: train_lib.TrainState):
  """The TrainState stored at `path`, in the structure of `template` (host
  arrays), with the generator's moving average where the checkpoint has one
  (`gen_ema` None where it has not, whatever the template holds)."""
  has_ema = any(k.startswith('.gen_ema') for k in ckpt_lib.stored_names(path))
  return ckpt_lib.restore(path, template._replace(
      gen_ema=template.gen_params if has_ema else None))


AVERAGE = 'average'  # --checkpoint=average: the mean of the kept checkpoints' generators


def average_params(trees):
  """The element-wise mean of parameter trees of one structure, computed in
  float64 and cast back to each leaf's dtype.

  Averaging a GAN generator's iterates is a remedy for players that circle
  instead of converging (Yazici et al., "The unusual effectiveness of averaging
  in GAN training", ICLR 2019; Polyak & Juditsky 1992); on this project's
  EMNLP2017 runs the mean of the last three checkpoints scores as well as the
  best of them (RESULTS.md section 7.2)."""
  trees = list(trees)
  if not trees:
    raise ValueError('average_params: no parameter trees')
  return jax.tree_util.tree_map(
      lambda *xs: np.mean(np.stack([np.asarray(x, np.float64) for x in xs]), axis=0)
      .astype(np.asarray(xs[0]).dtype), *trees)


def load_generator(workdir: str, checkpoint: str = '', prefer_best: bool = True,
                   with_data: bool = False):
  """(Run, generator params, checkpoint path) of a trained run.

  The checkpoint is `checkpoint`, else the best, else the latest (as for
  `--mode=sample` and `--mode=evaluate`); `checkpoint='average'` gives the
  element-wise mean of the generators of every kept step checkpoint
  (`ckpt_*.npz`, the last `keep_checkpoints`), and a description of them in
  place of the path. Without `with_data` the run is built from the workdir
  alone (its config, vocabulary and checkpoint), so it works after the data
  moved; `with_data` also loads the run's data (the references of evaluation
  metrics).
  """
  cfg = load_config(workdir).replace(num_devices=0, distributed=False)
  averaged = checkpoint == AVERAGE
  ckpt_dir = os.path.join(workdir, 'checkpoints')
  steps = ckpt_lib.all_steps(ckpt_dir) if averaged else []
  if averaged and not steps:
    raise ckpt_lib.CheckpointError(f'{ckpt_dir}: no step checkpoint (ckpt_*.npz) to '
                                   'average')
  paths = ([ckpt_lib.path_for(ckpt_dir, s) for s in steps] if averaged
           else [resolve_checkpoint(workdir, checkpoint, prefer_best)])
  if with_data:
    run = prepare(cfg, training=False)
    stored = read_workdir_vocab(workdir)
    if run.dataset.vocab is not None and stored is not None and stored != run.dataset.vocab:
      raise ConfigError(f'{_vocab_path(workdir)}: the run vocabulary does not match the '
                        'data')
  else:
    run = _run_from_workdir(cfg, workdir, paths[-1])
  template = parallel.to_host(train_lib.init_state(run.setup, cfg.seed))
  vocab_fp = run.dataset.vocab.fingerprint() if run.dataset.vocab else 'oracle'
  params = []
  for path in paths:
    state, meta = restore_state(path, template)
    if meta.get('vocab') != vocab_fp:
      raise ConfigError(f'{path}: checkpoint vocabulary does not match the data')
    params.append(state.eval_params)
  if averaged:
    source = (f"the average of {len(steps)} checkpoints of {ckpt_dir} "
              f"(steps {', '.join(str(s) for s in steps)})")
    logging.info('Loaded %s.', source)
    return run, jax.device_put(average_params(params)), source
  logging.info('Loaded %s (step %s).', paths[0], meta.get('step', '?'))
  return run, jax.device_put(params[0]), paths[0]


def checkpoint_states(workdir: str, steps=None):
  """(Run with its data, an iterator of (step, TrainState on device)) over the
  kept checkpoints of a training run, or the given `steps`: for probes that
  follow the networks through training (`scripts/disc_probe.py`,
  `scripts/critic_probe.py`)."""
  cfg = load_config(workdir).replace(num_devices=0, distributed=False)
  run = prepare(cfg, training=False)
  template = parallel.to_host(train_lib.init_state(run.setup, cfg.seed))
  ckpt_dir = os.path.join(workdir, 'checkpoints')

  def states():
    for step in steps or ckpt_lib.all_steps(ckpt_dir):
      state, _ = restore_state(ckpt_lib.path_for(ckpt_dir, step), template)
      yield step, jax.device_put(state)

  return run, states()


def sample(workdir: str, num_samples: int, temperature: float = 1.0, seed: int = 0,
           checkpoint: str = '') -> list[str]:
  run, params, _ = load_generator(workdir, checkpoint)
  toks = inference.sample_tokens(run.setup.gen, params, num_samples, seed, temperature)
  return [run.dataset.decode(t) for t in toks]
