"""One code path from 1 CPU to many hosts: a 1-D `data` mesh with Auto axes,
and the batch's gradient chunks (device-count invariance, microbatching).

Parameters, optimiser states, the baseline and the RNG key are replicated; the
batch is sharded along `data`; `jax.jit` inserts the reductions. The mesh axis
type is `AxisType.Auto` on purpose: the default of `jax.make_mesh` (Explicit)
breaks Haiku's embedding gathers.
"""
from __future__ import annotations

import os
from typing import TYPE_CHECKING

import jax
import numpy as np
from jax.sharding import AxisType, Mesh, NamedSharding, PartitionSpec as P

if TYPE_CHECKING:
  from scratchgan_jax.config import Config


class ParallelError(ValueError):
  """A user-caused parallelism error (batch size, device count, flags)."""


# XLA's CPU compiler schedules for concurrency by default, which keeps much more
# of a large step alive at once: the paper preset's one-chunk step at batch 512
# needs 6.9 GiB of temporaries with it and 3.2 GiB without, at the same speed
# (BENCHMARKS.md). The setting changes the order of independent operations only,
# never the arithmetic: results are bit-identical (tests/test_microbatch.py).
CPU_MEMORY_SCHEDULER_FLAG = '--xla_cpu_enable_concurrency_optimized_scheduler=false'


def use_cpu_memory_scheduler() -> bool:
  """Asks XLA's CPU compiler for its memory-minimising scheduler, process-wide.

  Call before the first computation (XLA reads XLA_FLAGS when it starts); the
  application calls it (`launch.py`), the library never does. A user whose
  XLA_FLAGS already names the scheduler keeps their choice. Returns whether the
  flag is now in force. GPUs and TPUs ignore it.
  """
  current = os.environ.get('XLA_FLAGS', '')
  name = CPU_MEMORY_SCHEDULER_FLAG.split('=', 1)[0]
  if name in current:
    return CPU_MEMORY_SCHEDULER_FLAG in current.split()
  os.environ['XLA_FLAGS'] = f'{current} {CPU_MEMORY_SCHEDULER_FLAG}'.strip()
  return True


def initialize_distributed(coordinator_address: str = '', num_processes: int = 0,
                           process_id: int = -1) -> None:
  """jax.distributed.initialize with explicit flags, or the cluster's environment."""
  # A peer that dies is noticed within the heartbeat timeout, not hung on.
  kw = {'heartbeat_timeout_seconds': 60, 'shutdown_timeout_seconds': 60}
  if coordinator_address:
    kw['coordinator_address'] = coordinator_address
  if num_processes > 0:
    kw['num_processes'] = num_processes
  if process_id >= 0:
    kw['process_id'] = process_id
  # CPU processes need a collectives backend (GPU/TPU ignore this setting).
  if jax.config.jax_cpu_collectives_implementation in (None, '', 'none'):
    jax.config.update('jax_cpu_collectives_implementation', 'gloo')
  jax.distributed.initialize(**kw)


def all_processes_ok(ok: bool, what: str) -> None:
  """Every process reports whether `what` worked; all stop if one failed.

  Without it, a host that fails before training (a missing file on one host)
  leaves the others blocked in their first collective. The failed process
  raises its own error after this; the others raise ParallelError naming it.
  """
  if jax.process_count() == 1:
    return
  from jax.experimental import multihost_utils  # pylint: disable=g-import-not-at-top
  status = np.asarray(multihost_utils.process_allgather(
      np.array([0 if ok else 1], np.int32))).reshape(-1)
  failed = [i for i, s in enumerate(status) if s]
  if failed and ok:
    raise ParallelError(f'process {", ".join(map(str, failed))} of {len(status)} failed '
                        f'{what} (see its error); stopping this process too')


def make_mesh(num_devices: int = 0) -> Mesh:
  devices = jax.devices()
  if num_devices:
    if num_devices > len(devices):
      raise ParallelError(f'--num_devices={num_devices}: only {len(devices)} '
                          'devices are available')
    if jax.process_count() > 1:
      raise ParallelError('--num_devices cannot be used with several processes')
    devices = devices[:num_devices]
  return Mesh(np.asarray(devices), ('data',), axis_types=(AxisType.Auto,))


def replicated(mesh: Mesh) -> NamedSharding:
  return NamedSharding(mesh, P())


def data_sharded(mesh: Mesh) -> NamedSharding:
  return NamedSharding(mesh, P('data'))


def check_batch_size(batch_size: int, mesh: Mesh, what: str = '--batch_size') -> None:
  n = mesh.size
  if batch_size % n:
    raise ParallelError(f'{what}={batch_size} is not divisible by the {n} '
                        f'devices; use a multiple of {n}')
  if batch_size % jax.process_count():
    raise ParallelError(f'{what}={batch_size} is not divisible by the '
                        f'{jax.process_count()} processes')


def shard_batch(batch, mesh: Mesh):
  """Host numpy batch (this process's slice) -> global array sharded on `data`."""
  sharding = data_sharded(mesh)
  if jax.process_count() == 1:
    return jax.device_put(batch, sharding)
  return jax.tree.map(
      lambda x: jax.make_array_from_process_local_data(sharding, x), batch)


def replicate(tree, mesh: Mesh):
  return jax.device_put(tree, replicated(mesh))


def to_host(tree):
  """Replicated global arrays -> numpy (works on every process)."""
  def get(x):
    if isinstance(x, jax.Array) and not x.is_fully_addressable:
      return np.asarray(x.addressable_data(0))
    return np.asarray(x)
  return jax.tree.map(get, tree)


# ----------------------------------------------------------------------------
# Gradient chunks: device-count invariance and microbatching.
#
# Device-count invariance: a plain batch mean under jit is reduced by XLA per
# device and then all-reduced, so its summation order (and last bits) depend
# on the device count; even per-row kernels compile differently for different
# shard sizes. Instead, the batch is split into `grad_chunks` fixed chunks;
# each device computes the gradients of its own chunks one after the other
# (the same program for every chunk, whatever the mesh), and the per-chunk
# gradients are gathered and added in a fixed order. Results are bit-identical
# for every device count that divides `grad_chunks` (an explicit
# `--grad_chunks=N`). The default, `grad_chunks=0`, picks the fewest chunks
# that fit the memory budget (`resolve_chunks`): one per device when the batch
# fits, the fastest path; results then agree across device counts to float
# rounding, not bit for bit.


def chunk(x, c):
  return x.reshape((c, x.shape[0] // c) + x.shape[1:])


def sum_chunks(tree, mesh):
  """Sum over the leading chunk axis in a fixed order, after gathering."""
  def f(x):
    if mesh is not None:
      x = jax.lax.with_sharding_constraint(x, replicated(mesh))
    # The barrier stops XLA from folding the chunk sum back into the ops that
    # produced the chunks (which would re-split it across devices).
    x = jax.lax.optimization_barrier(x)
    out = x[0]
    for i in range(1, x.shape[0]):
      out = out + x[i]
    return out
  return jax.tree.map(f, tree)


def chunked_grad(loss_fn, params, chunks, extras, mesh):
  """Sum over chunks of grad(loss_fn)(params, chunk, extras), device-invariant.

  `chunks` is a pytree of arrays with a leading chunk axis (sharded on `data`);
  `extras` is replicated. Each device loops over its own chunks with
  `lax.map`, so every chunk runs the same compiled program whatever the device
  count; the per-chunk results are then gathered and added in a fixed order.
  Returns (summed grads, summed aux).
  """
  return sum_chunks(chunked_map(jax.grad(loss_fn, has_aux=True), params, chunks, extras,
                                mesh), mesh)


def chunked_map(fn, params, chunks, extras, mesh):
  """[fn(params, chunk, extras) for each chunk], each device over its own chunks."""
  def local(params, chunks, extras):
    return jax.lax.map(lambda c: fn(params, c, extras), chunks)

  if mesh is None:
    return local(params, chunks, extras)
  return jax.shard_map(local, mesh=mesh, in_specs=(P(), P('data'), P()),
                       out_specs=P('data'), check_vma=False)(params, chunks, extras)


def batch_sum(fn, chunks, extras, C: int, mesh):
  """sum over the batch of fn(*chunk, extras) computed chunk by chunk: each
  chunk runs the same program on every device count, and the per-chunk
  results are added in a fixed order, so the sum has the same bits on every
  device count that divides C. Replicated inputs go in `extras` (not in a
  closure: a captured array loses that guarantee)."""
  return sum_chunks(chunked_map(lambda _, c, e: fn(*c, e), None,
                                tuple(chunk(x, C) for x in chunks), extras, mesh), mesh)


# ----------------------------------------------------------------------------
# Microbatching: how many gradient chunks a step needs.
#
# The step's memory is dominated by the teacher-forced rescoring of the
# sampled batch: B x T x V logits, their softmax and gradients, plus the LSTM
# activations kept for the backward pass. Chunking the batch (each device
# loops over its chunks, gradients accumulated in a fixed order) bounds that
# by the microbatch; sampling stays one pass over the device's batches (the
# discriminator's and the generator's), whose memory is [2B, V] per time step.


def sampled_batches(cfg: Config) -> int:
  """Batches `gan_update` draws in its one sampling pass: one per
  discriminator update, plus the first generator update's own unless it
  reuses the last discriminator batch."""
  return cfg.num_disc_updates + (0 if cfg.reuse_samples else 1)


def step_memory_bytes(cfg: Config, vocab_size: int, microbatch: int,
                      device_batch: int, platform: str = 'gpu',
                      embedding_dim: int | None = None) -> int:
  """Estimated peak bytes of one update step on one device.

  Calibrated on an H100 at the paper preset (float32: 9.6 MB per example of
  a one-chunk step, measured; the estimate is ~10 MB) and doubled on CPU,
  whose compiler keeps more temporaries alive (measured on COCO-sized
  models). Conservative by design: it picks the chunk count, it is not a
  measurement.
  """
  T, V = cfg.sequence_length, vocab_size
  E = embedding_dim or cfg.trainable_embedding_size + (300 if cfg.embedding_path else 0)
  Hg, Lg, Hd = cfg.gen_feature_size, cfg.num_layers_gen, cfg.disc_feature_size
  Ld = cfg.num_layers_disc
  per_example = 4 * T * (4 * V + 16 * Lg * Hg + 16 * Ld * Hd + 4 * E)
  # One sampling pass draws every batch of the step that precedes the
  # generator's first update (`gan_update`): [draws * B, V] per time step.
  sampling = 4 * sampled_batches(cfg) * device_batch * (3 * V + 4 * Lg * Hg + 2 * T)
  params = 4 * (V * E * 2 + 8 * Lg * Hg * Hg + 8 * Ld * Hd * Hd
                + 2 * Lg * Hg * E + V)
  fixed = 6 * params + sampling  # params, grads, 2 Adam moments, copies
  factor = 2 if platform == 'cpu' else 1
  return factor * (microbatch * per_example + fixed)


def default_memory_budget(device=None) -> int:
  """Bytes a step may use: 60% of an accelerator's memory, 25% of host RAM on CPU."""
  device = device or jax.local_devices()[0]
  if device.platform != 'cpu':
    try:
      limit = (device.memory_stats() or {}).get('bytes_limit')
    except Exception:  # pylint: disable=broad-except
      limit = None
    if limit:
      return int(0.6 * limit)
    return 8 << 30
  try:
    total = os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES')
  except (ValueError, OSError, AttributeError):
    total = 8 << 30
  return int(0.25 * total)


def choose_grad_chunks(cfg: Config, vocab_size: int, num_devices: int,
                       budget_bytes: int, platform: str = 'gpu',
                       embedding_dim: int | None = None) -> int:
  """The fewest chunks (a multiple of the device count) whose step fits.

  Fewest chunks = largest kernels = fastest. Raises ParallelError before any
  compilation when even one example per chunk does not fit.
  """
  B = cfg.batch_size
  per_device = B // num_devices
  need = lambda mb: step_memory_bytes(cfg, vocab_size, mb, per_device, platform,
                                     embedding_dim)
  for k in range(1, per_device + 1):
    if per_device % k == 0 and need(per_device // k) <= budget_bytes:
      return k * num_devices
  gb = need(1) / 2**30
  raise ParallelError(
      f'--batch_size={B} does not fit in the memory budget of '
      f'{budget_bytes / 2**30:.1f} GiB per device even one example at a time '
      f'(estimated {gb:.1f} GiB; the sampling pass alone is '
      f'{4 * sampled_batches(cfg) * per_device * 3 * vocab_size / 2**30:.1f} GiB): raise '
      '--memory_budget_gb, use more devices, or lower --batch_size')
