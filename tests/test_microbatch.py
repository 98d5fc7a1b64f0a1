"""Microbatching: the chunk count changes memory, not the result."""
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import tiny_config
from scratchgan_jax import data, experiment, losses, parallel, train
from scratchgan_jax.config import Config


def _run_steps(cfg, n=3):
  run = experiment.prepare(cfg)
  state = parallel.replicate(train.init_state(run.setup, cfg.seed), run.mesh)
  update = train.compile_update(run.setup, run.mesh, donate=False)
  for step in range(n):
    b = data.get_batch(run.dataset.train, run.dataset.train_length, step=step,
                       batch_size=cfg.batch_size, seed=0, shuffle=True)
    state, _ = update(state, parallel.shard_batch(b, run.mesh))
  return jax.tree.leaves(parallel.to_host(state))


@pytest.mark.slow
@pytest.mark.parametrize('objective', ['gan', 'mle'])
def test_chunk_counts_give_the_same_parameters(tiny_corpus, objective):
  """grad_chunks 1, 8 and automatic (a tiny budget forces 16 chunks) agree."""
  base = tiny_config(*tiny_corpus, batch_size=16, objective=objective)
  one = _run_steps(base.replace(grad_chunks=1))
  eight = _run_steps(base.replace(grad_chunks=8))
  run = experiment.prepare(base)
  budget = parallel.step_memory_bytes(base, run.dataset.vocab_size, 1, 16, 'cpu')
  auto_cfg = base.replace(grad_chunks=0, memory_budget_gb=budget / 2**30)
  assert train.resolve_chunks(experiment.prepare(auto_cfg).setup, run.mesh).grad_chunks == 16
  auto = _run_steps(auto_cfg)
  # Chunks change the order of float sums; three Adam steps amplify that to
  # ~1e-4 relative on some CPUs (8e-5 measured on an AMD EPYC), while a chunk
  # counted twice or dropped moves parameters by ~the learning rate.
  for a, b, c in zip(one, eight, auto):
    np.testing.assert_allclose(a, b, rtol=3e-4, atol=2e-5)
    np.testing.assert_allclose(a, c, rtol=3e-4, atol=2e-5)
  assert any(not np.array_equal(x, y) for x, y in zip(one, _run_steps(base.replace(
      grad_chunks=1, seed=1))))  # the comparison can fail: another seed differs


def test_chunked_grad_equals_the_unchunked_gradient():
  """chunked_grad over 4 chunks = jax.grad of the whole-batch loss."""
  cfg = Config.for_model(batch_size=16, max_length=10,
               gen_feature_size=16, num_layers_gen=2, trainable_embedding_size=8,
               selection_metric='valid_nll')
  setup = train.make_setup(cfg, 50, None, eos=True)
  params = setup.gen.init(jax.random.key(0))
  seq, _ = setup.gen.sample(params, jax.random.key(1), 16)
  returns = jax.random.normal(jax.random.key(2), seq.shape)
  b = jnp.float32(0.3)

  def whole(p):
    return losses.reinforce_loss(setup.gen.log_prob(p, seq), returns, b, 'sum', batch_size=16)

  def chunk_loss(p, chunk, extras):
    s, r = chunk
    loss = losses.reinforce_loss(setup.gen.log_prob(p, s), r, extras, 'sum', batch_size=16)
    return loss, loss

  ref = jax.grad(whole)(params)
  got, loss = parallel.chunked_grad(chunk_loss, params,
                                 (seq.reshape(4, 4, -1), returns.reshape(4, 4, -1)), b, None)
  np.testing.assert_allclose(float(loss), float(whole(params)), rtol=1e-5)
  for x, y in zip(jax.tree.leaves(ref), jax.tree.leaves(got)):
    np.testing.assert_allclose(x, y, rtol=1e-4, atol=1e-6)


def _paper_cfg(batch, **kw):  # GloVe 300 + 64 trainable, as in the paper
  return Config.for_model(embedding_path='glove.txt',
                batch_size=batch, max_length=52,
                gen_feature_size=512, num_layers_gen=2, disc_feature_size=512,
                trainable_embedding_size=64, selection_metric='valid_nll', **kw)


def test_automatic_chunks_pick_the_fewest_that_fit():
  gib = 2**30
  # The paper preset (V=5700): batch 512 fits 40 GiB in one chunk; 8192 does not.
  assert parallel.choose_grad_chunks(_paper_cfg(512), 5700, 1, 40 * gib) == 1
  k = parallel.choose_grad_chunks(_paper_cfg(8192), 5700, 1, 40 * gib)
  assert k > 1 and 8192 % k == 0
  assert parallel.step_memory_bytes(_paper_cfg(8192), 5700, 8192 // k, 8192) <= 40 * gib
  smaller = 8192 // [d for d in range(1, k) if 8192 % d == 0][-1]
  assert parallel.step_memory_bytes(_paper_cfg(8192), 5700, smaller, 8192) > 40 * gib
  # Chunks are a multiple of the device count.
  assert parallel.choose_grad_chunks(_paper_cfg(8192), 5700, 8, 40 * gib) % 8 == 0
  # The estimate follows the H100 measurement at the paper preset (9.6 MB per
  # example, float32, one chunk: benchmarks/results/step_time_gpu.jsonl).
  per_ex = (parallel.step_memory_bytes(_paper_cfg(8192), 5700, 8192, 8192)
            - parallel.step_memory_bytes(_paper_cfg(4096), 5700, 4096, 4096)) / 4096
  assert 9.6e6 <= per_ex <= 1.5 * 9.6e6


def test_a_batch_that_cannot_fit_stops_before_compiling():
  with pytest.raises(parallel.ParallelError, match=r'--memory_budget_gb'):
    parallel.choose_grad_chunks(_paper_cfg(4096, max_vocab_size=20000), 20000, 1, 2**30)


def test_estimate_bounds_the_compiled_memory_and_chunks_reduce_it():
  """XLA's own memory analysis of the compiled step, 1 chunk vs 4 chunks."""
  mesh = parallel.make_mesh()
  sizes = {}
  for chunks in (1, 4):
    cfg = Config.for_model(batch_size=64, max_length=20,
                 gen_feature_size=32, num_layers_gen=2, disc_feature_size=32,
                 trainable_embedding_size=16, grad_chunks=chunks,
                 selection_metric='valid_nll')
    setup = train.make_setup(cfg, 2000, None, eos=True)
    state = parallel.replicate(train.init_state(setup, 0), mesh)
    seqs = np.random.default_rng(0).integers(1, 2000, (64, 20)).astype(np.int32)
    batch = parallel.shard_batch(data.Batch(seqs, np.full(64, 20, np.int32)), mesh)
    m = train.compile_update(setup, mesh).lower(state, batch).compile().memory_analysis()
    measured = m.temp_size_in_bytes + m.argument_size_in_bytes + m.output_size_in_bytes
    est = parallel.step_memory_bytes(cfg, 2000, 64 // chunks, 64, 'cpu')
    assert measured <= est <= 6 * measured, (chunks, measured, est)
    sizes[chunks] = m.temp_size_in_bytes
  assert sizes[4] < sizes[1] / 2


def _scheduler_run(tmp_path, scheduler):
  out = tmp_path / f'{scheduler}.npz'
  env = {k: v for k, v in os.environ.items() if k != 'XLA_FLAGS'}
  subprocess.run([sys.executable, os.path.join(os.path.dirname(__file__), 'helpers', 'scheduler_run.py'),
                  scheduler, str(out)], check=True, env=env, timeout=600)
  return dict(np.load(out))


def test_cpu_memory_scheduler_lowers_memory_and_keeps_results(tmp_path):
  """launch.py's XLA CPU scheduler: less memory for the one-chunk step, same bits."""
  mem = _scheduler_run(tmp_path, 'memory')
  default = _scheduler_run(tmp_path, 'xla-default')
  assert mem['temp_bytes'] < 0.8 * default['temp_bytes'], (mem['temp_bytes'],
                                                           default['temp_bytes'])
  assert mem.keys() == default.keys()
  for k in mem:
    if k != 'temp_bytes':
      np.testing.assert_array_equal(mem[k], default[k], err_msg=k)


def test_cpu_memory_scheduler_keeps_the_users_xla_flags(monkeypatch):
  flag = parallel.CPU_MEMORY_SCHEDULER_FLAG
  name = flag.split('=')[0]
  monkeypatch.setenv('XLA_FLAGS', '--xla_cpu_use_thunk_runtime=true')
  assert parallel.use_cpu_memory_scheduler()
  assert os.environ['XLA_FLAGS'] == f'--xla_cpu_use_thunk_runtime=true {flag}'
  assert parallel.use_cpu_memory_scheduler()  # idempotent
  assert os.environ['XLA_FLAGS'].count(name) == 1
  monkeypatch.setenv('XLA_FLAGS', f'{name}=true')  # the user's choice wins
  assert not parallel.use_cpu_memory_scheduler()
  assert os.environ['XLA_FLAGS'] == f'{name}=true'
  monkeypatch.delenv('XLA_FLAGS')
  assert parallel.use_cpu_memory_scheduler()
  assert os.environ['XLA_FLAGS'] == flag
