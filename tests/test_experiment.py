import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import REPO, poison_updates, tiny_config
from scratchgan_jax import checkpoint, data, experiment, parallel, train


def _steps(run, state, n, start=0):
  update = train.compile_update(run.setup, run.mesh, donate=False)
  for step in range(start, start + n):
    b = data.get_batch(run.dataset.train, run.dataset.train_length, step=step,
                       batch_size=run.cfg.batch_size, seed=run.cfg.seed, shuffle=True)
    state, metrics = update(state, parallel.shard_batch(b, run.mesh))
  return state, metrics


def test_mle_drives_training_loss_near_zero(tiny_corpus):
  train_path, _ = tiny_corpus
  with open(train_path, 'w') as f:  # Two sentences: memorisable.
    f.write('the cat sat on the mat\nthe cat sat on the mat\n' * 8)
  cfg = tiny_config(train_path, train_path, objective='mle', gen_lr=3e-2,
                    gen_beta1=0.9, num_layers_gen=1, gen_feature_size=32)
  run = experiment.prepare(cfg)
  state = parallel.replicate(train.init_state(run.setup, 0), run.mesh)
  state, metrics = _steps(run, state, 150)
  assert float(metrics['mle_loss']) < 0.05


def test_gan_steps_are_finite_and_change_both_networks(tiny_corpus, tmp_path):
  emb = tmp_path / 'glove.txt'
  emb.write_text('3 4\nthe 1 0 0 0\ncat 0 1 0 0\ndog 0 0 1 0\n')
  cfg = tiny_config(*tiny_corpus, embedding_path=str(emb))
  run = experiment.prepare(cfg)
  s0 = train.init_state(run.setup, 0)
  host0 = parallel.to_host(s0)
  state, metrics = _steps(run, parallel.replicate(s0, run.mesh), 3)
  host = parallel.to_host(state)
  for k, v in metrics.items():
    assert np.isfinite(float(v)), k
  assert int(host.step) == 3
  assert float(host.baseline) != 0.0
  for net in ('gen_params', 'disc_params'):
    a, b = getattr(host0, net), getattr(host, net)
    changed = [not np.array_equal(x, y) for x, y in
               zip(jax.tree.leaves(a), jax.tree.leaves(b))]
    assert sum(changed) >= len(changed) - 1, net  # all but the frozen part
  # The GloVe part is frozen (paper), shared by both networks, and not in Adam.
  g0 = host0.gen_params['generator']['pretrained_embedding']
  np.testing.assert_array_equal(host.gen_params['generator']['pretrained_embedding'], g0)
  np.testing.assert_array_equal(
      host.disc_params['discriminator']['pretrained_embedding'], g0)
  word = run.dataset.vocab.word_to_id['cat']
  np.testing.assert_array_equal(g0[word], [0, 1, 0, 0])


def test_train_pretrained_variant_updates_the_glove_part(tiny_corpus, tmp_path):
  emb = tmp_path / 'glove.txt'
  emb.write_text('1 4\nthe 1 0 0 0\n')
  cfg = tiny_config(*tiny_corpus, embedding_path=str(emb),
                    train_pretrained_embedding=True)
  run = experiment.prepare(cfg)
  s0 = train.init_state(run.setup, 0)
  g0 = np.asarray(s0.gen_params['generator']['pretrained_embedding'])
  state, _ = _steps(run, parallel.replicate(s0, run.mesh), 2)
  assert not np.array_equal(parallel.to_host(state).gen_params['generator']
                            ['pretrained_embedding'], g0)


def test_ppmi_part_is_computed_from_the_training_data_and_kept_in_the_checkpoint(
    tiny_corpus, tmp_path):
  cfg = tiny_config(*tiny_corpus, ppmi_embedding_size=4, num_steps=2)
  run = experiment.prepare(cfg)
  V, M = run.dataset.vocab_size, cfg.trainable_embedding_size
  # At the scale of the trainable part, which stays Glorot-uniform beside it.
  want = data.ppmi_embeddings(run.dataset.train, run.dataset.train_length, V, 4,
                              rms=np.sqrt(2 / (V + M)))
  s0 = train.init_state(run.setup, 0)
  for net in (s0.gen_params['generator'], s0.disc_params['discriminator']):
    np.testing.assert_array_equal(net['pretrained_embedding'], want)
    assert np.abs(net['trainable_embedding']).max() <= np.sqrt(6 / (V + M))
  workdir = str(tmp_path / 'w')
  experiment.train(cfg, workdir)
  flat = _flat(checkpoint.path_for(os.path.join(workdir, 'checkpoints'), 2))
  for net in ('gen_params', 'disc_params'):
    key, = [k for k in flat if k.startswith(f'.{net}') and
            k.endswith("['pretrained_embedding']")]
    np.testing.assert_array_equal(flat[key], want)  # frozen, in both networks
  # Sampling needs the workdir only: the frozen part comes from the checkpoint.
  os.remove(tiny_corpus[0])
  assert len(experiment.sample(workdir, 3)) == 3


def _flat(path):
  with np.load(path) as z:
    return {k: z[k] for k in z.files if k != '__meta__'}


def test_resume_is_bit_identical_to_an_uninterrupted_run(tiny_corpus, tmp_path):
  cfg = tiny_config(*tiny_corpus, num_steps=6, checkpoint_every=3, eval_every=3)
  a, b = str(tmp_path / 'a'), str(tmp_path / 'b')
  experiment.train(cfg, a)
  experiment.train(cfg.replace(num_steps=3), b)  # "interrupted" at step 3
  assert checkpoint.all_steps(os.path.join(b, 'checkpoints')) == [3]
  experiment.train(cfg, b)  # resumes automatically from step 3
  fa = _flat(checkpoint.path_for(os.path.join(a, 'checkpoints'), 6))
  fb = _flat(checkpoint.path_for(os.path.join(b, 'checkpoints'), 6))
  assert fa.keys() == fb.keys()
  for k in fa:
    np.testing.assert_array_equal(fa[k], fb[k], err_msg=k)
  # metrics.jsonl has each step once, in order.
  steps = [r['step'] for r in experiment.writers.MetricWriter(b).read()
           if 'disc_loss' in r]
  assert steps == sorted(set(steps))
  # The probes' view of a run: every kept checkpoint, in order, as saved.
  _, states = experiment.checkpoint_states(a)
  got = [(step, int(state.step)) for step, state in states]
  assert got == [(3, 3), (6, 6)], got
  (_, last), = experiment.checkpoint_states(a, steps=[6])[1]
  np.testing.assert_array_equal(
      np.asarray(last.gen_params['generator']['out_bias']),
      fa[".gen_params['generator']['out_bias']"])


def test_workdir_outputs(tiny_corpus, tmp_path):
  cfg = tiny_config(*tiny_corpus)
  w = str(tmp_path / 'w')
  summary = experiment.train(cfg, w)
  for f in ('config.json', 'vocab.json', 'metrics.jsonl', 'summary.json',
            'summary.md', 'log.txt', 'samples/step_000000004.txt',
            'checkpoints/best.npz'):
    assert os.path.exists(os.path.join(w, f)), f
  assert 'valid_nll' in summary['final']
  lines = open(os.path.join(w, 'samples', 'step_000000004.txt')).read().splitlines()
  assert len(lines) == 16 and all('  ' not in l for l in lines)
  assert not [f for f in os.listdir(os.path.join(w, 'checkpoints')) if f.startswith('.tmp')]
  out = experiment.sample(w, 5, temperature=0.8, seed=3)
  assert out == experiment.sample(w, 5, temperature=0.8, seed=3)
  assert len(out) == 5


def test_non_finite_loss_stops_and_keeps_last_good_checkpoint(tiny_corpus, tmp_path,
                                                             monkeypatch):
  cfg = tiny_config(*tiny_corpus, num_steps=8, checkpoint_every=2, log_every=1)
  def poison(state, metrics):
    bad = jnp.where(state.step >= 5, jnp.nan, 0.0)
    return state, dict(metrics, disc_loss=metrics['disc_loss'] + bad)

  poison_updates(monkeypatch, poison)
  w = str(tmp_path / 'w')
  with pytest.raises(train.TrainingError, match=r'non-finite disc_loss=nan at step 5.*ckpt_000000004'):
    experiment.train(cfg, w)
  assert checkpoint.all_steps(os.path.join(w, 'checkpoints')) == [2, 4]


def _device_run(n, out, objective):
  env = dict(os.environ, JAX_PLATFORMS='cpu')
  subprocess.run([sys.executable, os.path.join(REPO, 'tests', 'helpers', 'device_run.py'),
                  str(n), out, objective], check=True, env=env, cwd=REPO)
  return _flat(out)


@pytest.mark.parametrize('objective', ['gan', 'mle'])
def test_update_is_identical_on_1_and_4_devices(tmp_path, objective):
  one = _device_run(1, str(tmp_path / 'one.npz'), objective)
  four = _device_run(4, str(tmp_path / 'four.npz'), objective)
  for k in one:
    np.testing.assert_array_equal(one[k], four[k], err_msg=k)


def test_bfloat16_matmuls_and_reused_samples_train(tiny_corpus):
  cfg = tiny_config(*tiny_corpus, compute_dtype='bfloat16', reuse_samples=True)
  run = experiment.prepare(cfg)
  s0 = train.init_state(run.setup, 0)
  state, metrics = _steps(run, parallel.replicate(s0, run.mesh), 2)
  host = parallel.to_host(state)
  assert all(np.isfinite(float(v)) for v in metrics.values())
  assert host.gen_params['generator']['in_proj'].dtype == np.float32  # params stay f32
  assert not np.array_equal(host.gen_params['generator']['in_proj'],
                            np.asarray(s0.gen_params['generator']['in_proj']))


@pytest.mark.parametrize('end_reward', ['zero', 'absorb'])
def test_gan_step_baseline_is_mean_return_over_batch_and_time_updated_before_use(
    tiny_corpus, end_reward):
  """Recomputes one step's returns by hand from the step's own samples."""
  cfg = tiny_config(*tiny_corpus, batch_size=8, grad_chunks=2, gamma=0.7,
                    baseline_decay=0.3, end_reward=end_reward)
  run = experiment.prepare(cfg)
  s0 = train.init_state(run.setup, 0)._replace(baseline=jnp.float32(-0.25))
  state, metrics = _steps(run, parallel.replicate(s0, run.mesh), 1)
  host = parallel.to_host(state)
  key = jax.random.fold_in(jax.random.wrap_key_data(s0.rng), 0)
  k_sample, k_disc, _ = jax.random.split(jax.random.fold_in(key, 1000), 3)
  fake, _ = run.setup.gen.sample(s0.gen_params, k_sample, 8)  # G before its update
  logits = np.asarray(run.setup.disc.apply(host.disc_params, k_disc, fake, True))
  r = 2 / (1 + np.exp(-logits)) - 1  # masked logits are 0: reward 0 there
  fake = np.asarray(fake)
  ended = [row.tolist().index(0) for row in fake if 0 in row.tolist()[:-1]]
  assert ended, 'no sample ends early: the end_reward case is not exercised'
  if end_reward == 'absorb':  # the reward at the first PAD holds to the end
    for i, row in enumerate(fake.tolist()):
      if 0 in row:
        r[i, row.index(0) + 1:] = r[i, row.index(0)]
  R = np.zeros_like(r)
  for t in range(r.shape[1]):
    R[:, t] = sum(0.7 ** (s - t) * r[:, s] for s in range(t, r.shape[1]))
  mean_return = R.mean()  # over batch x time
  np.testing.assert_allclose(float(metrics['return']), mean_return, rtol=1e-4, atol=1e-6)
  np.testing.assert_allclose(float(host.baseline), 0.3 * -0.25 + 0.7 * mean_return,
                             rtol=1e-4, atol=1e-6)
  np.testing.assert_allclose(float(metrics['baseline']), float(host.baseline))


@pytest.mark.parametrize('metric', ['nll_oracle', 'valid_nll', 'fed'])
def test_best_checkpoint_selection_picks_the_lowest_step(tiny_corpus, tmp_path, monkeypatch,
                                                         metric):
  from scratchgan_jax import encoders
  scripted = {0: 5.0, 2: 3.0, 4: 4.0, 6: 2.0, 8: 2.5}
  monkeypatch.setattr(experiment, '_evaluate',
                      lambda run, params, step, workdir: {metric: scripted[step], 'other': 0.0})
  monkeypatch.setattr(encoders, 'make_encoder', lambda name: (lambda sents: None))
  if metric == 'nll_oracle':
    cfg = tiny_config(*tiny_corpus, dataset='oracle', train_path='', valid_path='',
                      oracle_vocab_size=30, oracle_length=5, oracle_num_train=40,
                      oracle_num_valid=40, selection_metric='auto', num_steps=8,
                      keep_checkpoints=10)
  else:
    cfg = tiny_config(*tiny_corpus, selection_metric=metric, num_steps=8,
                      keep_checkpoints=10)
  w = str(tmp_path / 'w')
  summary = experiment.train(cfg, w)
  meta = checkpoint.read_meta(os.path.join(w, 'checkpoints', 'best.npz'))
  assert meta['step'] == 6 and meta['best'] == {'value': 2.0, 'step': 6, 'metric': metric}
  assert summary['best']['step'] == 6
  # best.npz is the model of step 6: the same bytes as that step's checkpoint.
  best = _flat(os.path.join(w, 'checkpoints', 'best.npz'))
  six = _flat(checkpoint.path_for(os.path.join(w, 'checkpoints'), 6))
  assert best.keys() == six.keys()
  for k in best:
    np.testing.assert_array_equal(best[k], six[k], err_msg=k)


def test_tensorboard_events_read_back_with_tensorboards_reader(tiny_corpus, tmp_path):
  pytest.importorskip('tensorboardX')
  ea = pytest.importorskip('tensorboard.backend.event_processing.event_accumulator')
  cfg = tiny_config(*tiny_corpus, num_steps=4, log_every=1, eval_every=2, checkpoint_every=2)
  w = str(tmp_path / 'w')
  experiment.train(cfg.replace(num_steps=2), w)
  experiment.train(cfg, w)  # resumed: events past step 2 of the first attempt are purged
  acc = ea.EventAccumulator(os.path.join(w, 'tensorboard'),
                            size_guidance={ea.SCALARS: 0, ea.TENSORS: 0})
  acc.Reload()
  tags = acc.Tags()
  for tag in ('train/disc_loss', 'train/gen_loss', 'train/disc_prob_real',
              'train/disc_prob_fake', 'train/reward', 'train/baseline', 'train/steps_per_s',
              'eval/valid_nll', 'eval/valid_ppl'):
    assert tag in tags['scalars'], (tag, tags['scalars'])
  rows = experiment.writers.MetricWriter(w).read()
  want = [(r['step'], r['valid_nll']) for r in rows if r.get('eval')]
  got = [(e.step, e.value) for e in acc.Scalars('eval/valid_nll')]
  assert [s for s, _ in got] == [s for s, _ in want] == [0, 2, 4]
  np.testing.assert_allclose([v for _, v in got], [v for _, v in want], rtol=1e-6)
  assert [e.step for e in acc.Scalars('train/disc_loss')] == [1, 2, 3, 4]
  assert 'samples/text_summary' in tags['tensors']
