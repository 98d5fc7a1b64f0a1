"""One code path from 1 CPU to many hosts: a 1-D `data` mesh with Auto axes.

Parameters, optimiser states, the baseline and the RNG key are replicated; the
batch is sharded along `data`; `jax.jit` inserts the reductions. The mesh axis
type is `AxisType.Auto` on purpose: the default of `jax.make_mesh` (Explicit)
breaks Haiku's embedding gathers.
"""
from __future__ import annotations

import os

import jax
import numpy as np
from jax.sharding import AxisType, Mesh, NamedSharding, PartitionSpec as P


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
