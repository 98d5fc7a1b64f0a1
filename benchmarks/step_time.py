#!/usr/bin/env python3
"""Update-step speed: one JSON line per configuration.

    python benchmarks/step_time.py --preset=cpu-bench
    python benchmarks/step_time.py --preset=paper            # needs an accelerator
    python benchmarks/step_time.py --preset=sweep            # batch 512 -> 8192

Reports steps/s, sequences/s, tokens/s, compile time, peak memory (device
stats, else process RSS), model FLOPs per step (counted from the architecture:
`model_flops`), achieved TFLOP/s, and FLOP utilisation = achieved / the
device's peak (--peak_tflops, or a table of known accelerators; none for CPUs).
Synthetic token data of the preset's shape.
"""
import argparse
import json
import os
import platform
import resource
import sys
import time

import jax
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import host  # noqa: E402  (benchmarks/host.py)

# --code=DIR times the scratchgan_jax of another checkout (e.g. a worktree of an
# older commit) with this script, so old and new code are measured in one run.
_CODE = next((a.split('=', 1)[1] for a in sys.argv if a.startswith('--code=')), '')
if _CODE:
  sys.path.insert(0, os.path.abspath(_CODE))
from scratchgan_jax import data, models, parallel, train  # noqa: E402
from scratchgan_jax.config import Config  # noqa: E402


def _describe() -> dict:
  """The machine and the commit of the code measured (and of this script, when
  --code named another checkout)."""
  d = host.describe(_CODE or None)
  if _CODE:
    d['script_commit'] = host.describe()['commit']
  return d


def model_config(**kw):
  """A config of the networks only (`Config.for_model`, spelt out so that
  older checkouts given by --code work too)."""
  return Config(**{'dataset': 'text', 'train_path': '-', **kw})

PRESETS = {
    'paper': dict(batch_size=512, max_length=52, vocab=5700, gen_feature_size=512,
                  num_layers_gen=2, disc_feature_size=512, trainable_embedding_size=64,
                  pretrained_dim=300),
    # experiments/emnlp2017_small_scratchgan.cfg: the real-text CPU experiment.
    'emnlp2017-small': dict(batch_size=128, max_length=52, vocab=5596, gen_feature_size=256,
                            num_layers_gen=1, disc_feature_size=128,
                            trainable_embedding_size=64, pretrained_dim=0),
    'cpu-bench': dict(batch_size=64, max_length=52, vocab=5000, gen_feature_size=256,
                      num_layers_gen=2, disc_feature_size=256,
                      trainable_embedding_size=64, pretrained_dim=0),
}
PEAK_TFLOPS = {'H100': 989.0, 'H200': 989.0, 'A100': 312.0, 'V100': 125.0}  # bf16 dense


def peak_tflops(arg):
  if arg:
    return arg
  kind = jax.devices()[0].device_kind
  for k, v in PEAK_TFLOPS.items():
    if k in kind:
      return v
  return None


def model_flops(p: dict, batch_size: int) -> float:
  """Matmul FLOPs of one ScratchGAN step, counted from the architecture.

  XLA's cost analysis counts a scan's body once, so it undercounts recurrent
  models by ~T; this counts every time step. One step = discriminator update
  (sample; D forward+backward on real and fake) + generator update (fresh
  sample; D forward on it; G teacher-forced forward+backward). Backward = 2x
  forward. Elementwise work (gates, softmax, sampling) is not counted.
  """
  B, T, V = batch_size, p['max_length'], p['vocab']
  D = p['pretrained_dim'] + p['trainable_embedding_size']
  Hg, Lg, Hd = p['gen_feature_size'], p['num_layers_gen'], p['disc_feature_size']
  lstm_g = sum(2 * B * 4 * Hg * (Hg + (2 if l else 1) * Hg) for l in range(Lg))
  out_g = 2 * B * Lg * Hg * D + 2 * B * D * V
  g_fwd = 2 * V * D * Hg + T * (lstm_g + out_g)  # table projection + T steps
  d_fwd = 2 * V * D * Hd + T * (2 * B * 4 * Hd * 2 * Hd + 2 * B * Hd)
  sample = g_fwd
  return 2 * sample + 2 * 3 * d_fwd + d_fwd + 3 * g_fwd


def measure(preset: dict, batch_size: int, steps: int, grad_chunks: int, mesh,
            compute_dtype: str = 'float32', memory_budget_gb: float = 0.0,
            warmup: bool = True, options: dict | None = None):
  cfg = model_config(objective='gan', **(options or {}),
               batch_size=batch_size, max_length=preset['max_length'],
               gen_feature_size=preset['gen_feature_size'],
               num_layers_gen=preset['num_layers_gen'],
               disc_feature_size=preset['disc_feature_size'],
               trainable_embedding_size=preset['trainable_embedding_size'],
               grad_chunks=grad_chunks, selection_metric='valid_nll',
               compute_dtype=compute_dtype, memory_budget_gb=memory_budget_gb)
  rng = np.random.default_rng(0)
  pre = (rng.normal(0, 0.38, (preset['vocab'], preset['pretrained_dim'])).astype(np.float32)
         if preset['pretrained_dim'] else None)
  setup = train.resolve_chunks(train.make_setup(cfg, preset['vocab'], pre, eos=True), mesh)
  grad_chunks = setup.grad_chunks
  state = parallel.replicate(train.init_state(setup, 0), mesh)
  T = preset['max_length']
  lengths = rng.integers(22, T, size=batch_size)
  seqs = rng.integers(1, preset['vocab'], size=(batch_size, T)).astype(np.int32)
  seqs[np.arange(T)[None] >= lengths[:, None]] = 0
  batch = parallel.shard_batch(data.Batch(seqs, (lengths + 1).astype(np.int32)), mesh)
  update = train.compile_update(setup, mesh)
  t = time.perf_counter()
  compiled = update.lower(state, batch).compile()
  compile_s = time.perf_counter() - t
  try:  # XLA's own plan of the step's temporaries (buffer assignment)
    temp_bytes = int(compiled.memory_analysis().temp_size_in_bytes)
  except Exception:  # pylint: disable=broad-except
    temp_bytes = None
  cost = compiled.cost_analysis()
  cost = cost[0] if isinstance(cost, (list, tuple)) else cost
  xla_flops = float(cost.get('flops', 0.0)) if cost else 0.0
  if warmup:
    state, m = compiled(state, batch)
    jax.block_until_ready(m)
  t = time.perf_counter()
  for _ in range(steps):
    state, m = compiled(state, batch)
  jax.block_until_ready((state, m))
  dt = (time.perf_counter() - t) / steps
  mem = None
  try:
    stats = jax.devices()[0].memory_stats() or {}
    mem = stats.get('peak_bytes_in_use')
  except Exception:  # CPU devices have no memory stats
    pass
  if mem is None:
    mem = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
  tokens = float(np.sum(lengths + 1))
  return dict(batch_size=batch_size, steps_per_s=1 / dt, sequences_per_s=batch_size / dt,
              tokens_per_s=tokens / dt, step_ms=dt * 1e3, compile_s=compile_s,
              model_flops_per_step=model_flops(preset, batch_size),
              xla_cost_analysis_flops=xla_flops, peak_memory_bytes=int(mem),
              compiled_temp_bytes=temp_bytes,
              grad_chunks=grad_chunks)


def part_flops(p: dict, batch_size: int) -> dict:
  """Matmul FLOPs of each part timed by `breakdown` (as `model_flops` counts):
  one sampling pass of `batch_size` rows, a discriminator forward, its
  forward + backward on a real and a fake batch, the generator's rescoring
  forward + backward."""
  B, T, V = batch_size, p['max_length'], p['vocab']
  D = p['pretrained_dim'] + p['trainable_embedding_size']
  Hg, Lg, Hd = p['gen_feature_size'], p['num_layers_gen'], p['disc_feature_size']
  lstm_g = sum(2 * B * 4 * Hg * (Hg + (2 if l else 1) * Hg) for l in range(Lg))
  out_g = 2 * B * Lg * Hg * D + 2 * B * D * V
  g_fwd = 2 * V * D * Hg + T * (lstm_g + out_g)
  d_fwd = 2 * V * D * Hd + T * (2 * B * 4 * Hd * 2 * Hd + 2 * B * Hd)
  return {'sample': g_fwd, 'disc_fwd': d_fwd, 'disc_fwd_bwd_real_and_fake': 2 * 3 * d_fwd,
          'gen_rescore_fwd_bwd': 3 * g_fwd}


def matmul_reference(preset: dict, steps: int) -> dict:
  """GFLOP/s of plain float32 matmuls on this machine, for scale: the
  rescoring's vocabulary matmul ([B*T, D] x [D, V]), one sampling step's
  ([B, D] x [D, V]) and one LSTM step's ([B, 2H] x [2H, 4H])."""
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
  B, T, V = preset['batch_size'], preset['max_length'], preset['vocab']
  D = preset['pretrained_dim'] + preset['trainable_embedding_size']
  H = preset['gen_feature_size']
  shapes = {'vocab_matmul': (B * T, D, V), 'sample_step_matmul': (B, D, V),
            'lstm_step_matmul': (B, 2 * H, 4 * H)}
  out = {}
  for name, (m, k, n) in shapes.items():
    a = jax.random.normal(jax.random.key(0), (m, k))
    b = jax.random.normal(jax.random.key(1), (k, n))
    f = jax.jit(jnp.dot)
    jax.block_until_ready(f(a, b))
    reps = max(steps, int(2e10 // (2 * m * k * n)) or 1)
    t = time.perf_counter()
    for _ in range(reps):
      r = f(a, b)
    jax.block_until_ready(r)
    out[name + '_gflops_per_s'] = 2 * m * k * n * reps / (time.perf_counter() - t) / 1e9
  return out


def vocab_parts(preset: dict, rows: int = 208):
  """The vocabulary half of the generator's rescoring, alone, and the parts
  that explain its time: {name: (jitted fn, args)}.

  `rescore_vocab_fwd_bwd`: the gradient of sum_t a_t log softmax(P E^T + b)[x_t]
  with respect to P [B*T, D], E [V, D] and b, as `Generator.log_prob` computes
  it (log_softmax, then `models.take_token`); `vocab_exp_pass`: one exp over a
  [B*T, V] float32 array (what an elementwise pass over the logits costs);
  `vocab_blocked_fwd_bwd`: the same gradient computed in row blocks of `rows`
  that stay in cache, the logits recomputed in the backward pass (a tried
  alternative: same math, other rounding)."""
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
  B, T, V = preset['batch_size'], preset['max_length'], preset['vocab']
  D = preset['pretrained_dim'] + preset['trainable_embedding_size']
  N = B * T
  k = jax.random.split(jax.random.key(3), 5)
  P = 0.3 * jax.random.normal(k[0], (N, D))
  E = 0.3 * jax.random.normal(k[1], (V, D))
  b = 0.1 * jax.random.normal(k[2], (V,))
  tok = jax.random.randint(k[3], (N,), 0, V)
  adv = jax.random.normal(k[4], (N,))

  def library(P, E, b):
    lp = jax.nn.log_softmax(P @ E.T + b)
    return (models.take_token(lp, tok) * adv).sum()

  n = -(-N // rows)
  pad = n * rows - N

  def blocks(x):
    return jnp.pad(x, [(0, pad)] + [(0, 0)] * (x.ndim - 1)).reshape((n, rows) + x.shape[1:])

  @jax.custom_vjp
  def blocked(P, E, b):
    return blocked_fwd(P, E, b)[0]

  def block_lse(Pc, E, b):
    logits = Pc @ E.T + b
    m = logits.max(-1)
    return logits, jnp.log(jnp.exp(logits - m[:, None]).sum(-1)) + m

  def blocked_fwd(P, E, b):
    def one(a):
      Pc, tc, ac = a
      logits, lse = block_lse(Pc, E, b)
      return (jnp.take_along_axis(logits, tc[:, None], -1)[:, 0] - lse) * ac, lse
    vals, lse = jax.lax.map(one, (blocks(P), blocks(tok), blocks(adv)))
    return vals.sum(), (P, E, b, lse)

  def blocked_bwd(res, g):
    P, E, b, lse = res

    def body(acc, a):
      Pc, tc, ac, lc = a
      p = jnp.exp(Pc @ E.T + b - lc[:, None])
      gl = (g * ac)[:, None] * ((jnp.arange(V) == tc[:, None]).astype(p.dtype) - p)
      return (acc[0] + gl.T @ Pc, acc[1] + gl.sum(0)), gl @ E

    (dE, db), dP = jax.lax.scan(body, (jnp.zeros_like(E), jnp.zeros_like(b)),
                                (blocks(P), blocks(tok), blocks(adv), lse))
    return dP.reshape(-1, D)[:N], dE, db

  blocked.defvjp(blocked_fwd, blocked_bwd)
  grad = lambda f: jax.jit(jax.grad(f, argnums=(0, 1, 2)))  # noqa: E731
  return {'rescore_vocab_fwd_bwd': (grad(library), (P, E, b)),
          'vocab_exp_pass': (jax.jit(jnp.exp), (jnp.ones((N, V)),)),
          'vocab_blocked_fwd_bwd': (grad(blocked), (P, E, b))}


def breakdown(preset: dict, steps: int, compute_dtype: str = 'float32') -> dict:
  """Milliseconds of each part of a step, each jitted alone on the full batch,
  with each part's matmul FLOPs and achieved GFLOP/s, and plain matmuls of the
  same shapes for scale (`matmul_reference`)."""
  from scratchgan_jax import losses  # pylint: disable=g-import-not-at-top
  B, T = preset['batch_size'], preset['max_length']
  cfg = model_config(batch_size=B, max_length=T,
               gen_feature_size=preset['gen_feature_size'],
               num_layers_gen=preset['num_layers_gen'],
               disc_feature_size=preset['disc_feature_size'],
               trainable_embedding_size=preset['trainable_embedding_size'],
               selection_metric='valid_nll', compute_dtype=compute_dtype)
  setup = train.make_setup(cfg, preset['vocab'], None, eos=True)
  gp = setup.gen.init(jax.random.key(0))
  dp = setup.disc.init(jax.random.key(1))
  key = jax.random.key(2)
  seqs = jax.random.randint(key, (B, T), 1, preset['vocab'])
  parts = {
      'sample': jax.jit(lambda p, k: setup.gen.sample(p, k, B)[0]),
      'disc_fwd': jax.jit(lambda p, k, x: setup.disc.apply(p, k, x, True)),
      'disc_fwd_bwd_real_and_fake': jax.jit(jax.grad(
          lambda p, k, x: losses.discriminator_loss(setup.disc.apply(p, k, x, True),
                                                    setup.disc.apply(p, k, x, True)))),
      'gen_rescore_fwd_bwd': jax.jit(jax.grad(
          lambda p, k, x: -setup.gen.log_prob(p, x, k, True).sum())),
  }
  args = {'sample': (gp, key), 'disc_fwd': (dp, key, seqs),
          'disc_fwd_bwd_real_and_fake': (dp, key, seqs),
          'gen_rescore_fwd_bwd': (gp, key, seqs)}
  if compute_dtype == 'float32':
    for name, (f, a) in vocab_parts(preset).items():
      parts[name], args[name] = f, a
  out = {}
  for name, f in parts.items():
    jax.block_until_ready(f(*args[name]))
    t = time.perf_counter()
    for _ in range(steps):
      r = f(*args[name])
    jax.block_until_ready(r)
    out[name + '_ms'] = (time.perf_counter() - t) / steps * 1e3
  # One step = 2 samplings + D fwd/bwd on real and fake + D fwd + G rescoring.
  out['sum_of_parts_ms'] = (2 * out['sample_ms'] + out['disc_fwd_bwd_real_and_fake_ms']
                            + out['disc_fwd_ms'] + out['gen_rescore_fwd_bwd_ms'])
  if 'rescore_vocab_fwd_bwd_ms' in out:  # the LSTM half of the rescoring, by difference
    out['rescore_lstm_fwd_bwd_ms'] = (out['gen_rescore_fwd_bwd_ms']
                                      - out['rescore_vocab_fwd_bwd_ms'])
  for name, flops in part_flops(preset, B).items():
    out[name + '_gflop'] = flops / 1e9
    out[name + '_gflops_per_s'] = flops / (out[name + '_ms'] / 1e3) / 1e9
  out.update(matmul_reference(preset, steps))
  return out


def main():
  p = argparse.ArgumentParser()
  p.add_argument('--preset', default='cpu-bench',
                 choices=['paper', 'cpu-bench', 'emnlp2017-small', 'sweep'])
  p.add_argument('--steps', type=int, default=10)
  p.add_argument('--code', default='', help='time the scratchgan_jax package of this '
                 'checkout instead of this one (its commit is recorded)')
  p.add_argument('--grad_chunks', type=int, default=0,
                 help='0: the device count (fastest invariant setting)')
  p.add_argument('--peak_tflops', type=float, default=0.0)
  p.add_argument('--compute_dtype', default='float32', choices=['float32', 'bfloat16'])
  p.add_argument('--breakdown', action='store_true',
                 help='time the parts of a step (sampling, D, G) separately')
  p.add_argument('--batch_sizes', default='',
                 help='comma-separated global batch sizes (overrides the preset)')
  p.add_argument('--microbatch', type=int, default=0,
                 help='fixed microbatch: grad_chunks = batch / microbatch')
  p.add_argument('--vocab', type=int, default=0, help='override the vocabulary size')
  p.add_argument('--pretrained_dim', type=int, default=-1,
                 help="override the frozen embedding part's width (GloVe or PPMI)")
  p.add_argument('--trainable_embedding_size', type=int, default=-1,
                 help="override the trainable embedding part's width")
  p.add_argument('--reward_candidates', type=int, default=0,
                 help='time the step with --reward_candidates=k (0: off, the default)')
  p.add_argument('--auto_chunks', action='store_true',
                 help='automatic microbatching (grad_chunks=0, the default of launch.py)')
  p.add_argument('--memory_budget_gb', type=float, default=0.0,
                 help='with --auto_chunks: the budget (0: the platform default)')
  p.add_argument('--no_warmup', action='store_true',
                 help='time the first call after compiling (for steps of minutes on a '
                      'CPU, where a warm-up call would double the cost)')
  p.add_argument('--xla_cpu_scheduler', default='memory', choices=['memory', 'xla-default'],
                 help="memory: XLA's memory-minimising CPU scheduler, as launch.py sets "
                      "it; xla-default: XLA's own (concurrency-optimised) one")
  a = p.parse_args()
  if a.xla_cpu_scheduler == 'memory':
    parallel.use_cpu_memory_scheduler()  # before the first computation
  if a.breakdown:
    name = 'paper' if a.preset == 'sweep' else a.preset
    r = breakdown(PRESETS[name], a.steps, a.compute_dtype)
    r.update(benchmark='step_breakdown', preset=name, compute_dtype=a.compute_dtype,
             xla_cpu_scheduler=a.xla_cpu_scheduler,
             device_kind=jax.devices()[0].device_kind, jax=jax.__version__,
             cpus=os.cpu_count(), command=' '.join(sys.argv), **_describe())
    print(json.dumps(r))
    return
  mesh = parallel.make_mesh()
  chunks = a.grad_chunks or mesh.size
  peak = peak_tflops(a.peak_tflops)
  name = 'paper' if a.preset == 'sweep' else a.preset
  preset = dict(PRESETS[name])
  if a.vocab:
    preset['vocab'] = a.vocab
  for key in ('pretrained_dim', 'trainable_embedding_size'):
    if getattr(a, key) >= 0:
      preset[key] = getattr(a, key)
  if a.batch_sizes:
    sizes = [int(b) for b in a.batch_sizes.split(',')]
  elif a.preset == 'sweep':
    sizes = [512, 1024, 2048, 4096, 8192]
  else:
    sizes = [preset['batch_size']]
  for b in sizes:
    c = 0 if a.auto_chunks else (b // a.microbatch if a.microbatch else chunks)
    if b % mesh.size or (c and (b % c or c % mesh.size)):
      continue
    options = {'reward_candidates': a.reward_candidates} if a.reward_candidates else {}
    r = measure(preset, b, a.steps, c, mesh, a.compute_dtype, a.memory_budget_gb,
                warmup=not a.no_warmup, options=options)
    r['reward_candidates'] = a.reward_candidates
    r['warmup'] = not a.no_warmup
    r['timed_steps'] = a.steps
    r['vocab'] = preset['vocab']
    r['microbatch'] = b // r['grad_chunks']
    r['auto_chunks'] = bool(a.auto_chunks)
    r['compute_dtype'] = a.compute_dtype
    r['xla_cpu_scheduler'] = a.xla_cpu_scheduler
    r['xla_flags'] = os.environ.get('XLA_FLAGS', '')
    r['achieved_tflops'] = r['model_flops_per_step'] * r['steps_per_s'] / 1e12
    r['flop_utilisation'] = r['achieved_tflops'] / peak if peak else None
    r.update(benchmark='step_time', preset=name, devices=mesh.size,
             device_kind=jax.devices()[0].device_kind, platform=jax.default_backend(),
             jax=jax.__version__, cpus=os.cpu_count(), machine=platform.machine(),
             command=' '.join(sys.argv), **_describe())
    print(json.dumps(r), flush=True)


if __name__ == '__main__':
  main()
