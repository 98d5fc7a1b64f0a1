"""Atomic, dependency-free checkpoints of the full train state (.npz).

A checkpoint is one `.npz` holding every leaf of the state under its tree path
(`jax.tree_util.keystr`) plus a JSON `__meta__` entry (step, data position,
vocabulary fingerprint, config). It is written to a temporary file and moved
into place with `os.replace`, so a crash never leaves a half-written
checkpoint. Files: `<dir>/ckpt_<step:09d>.npz`; the best one is also written to
`<dir>/best.npz` (before the step's checkpoint, so a kill between the two never
leaves a best.npz older than the best the metadata names). `WorkdirLock` keeps
two launches off one workdir.
"""
from __future__ import annotations

import io
import json
import os
import re
import socket
import secrets
import time

import jax
import numpy as np

_PATTERN = re.compile(r'^ckpt_(\d{9})\.npz$')


class CheckpointError(ValueError):
  """A checkpoint that is missing, corrupt or does not match the model."""


def _flatten(tree) -> dict[str, np.ndarray]:
  flat, _ = jax.tree_util.tree_flatten_with_path(tree)
  return {jax.tree_util.keystr(p): np.asarray(v) for p, v in flat}


def atomic_write_bytes(path: str, payload: bytes) -> None:
  d = os.path.dirname(os.path.abspath(path))
  os.makedirs(d, exist_ok=True)
  # A fresh name created with the usual mode (0666 less the process umask,
  # which os.open applies; mkstemp would make it 0600).
  tmp = os.path.join(d, f'.tmp-{secrets.token_hex(6)}{os.path.basename(path)}')
  fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
  try:
    with os.fdopen(fd, 'wb') as f:
      f.write(payload)
      f.flush()
      os.fsync(f.fileno())
    os.replace(tmp, path)
    _fsync_dir(d)
  except BaseException:
    if os.path.exists(tmp):
      os.remove(tmp)
    raise


def _fsync_dir(d: str) -> None:
  try:
    fd = os.open(d, os.O_RDONLY)
  except OSError:
    return
  try:
    os.fsync(fd)
  except OSError:
    pass
  finally:
    os.close(fd)


def clean_temporaries(directory: str) -> list[str]:
  """Removes `.tmp-*` files a killed write left behind (call under the lock)."""
  if not os.path.isdir(directory):
    return []
  removed = []
  for f in os.listdir(directory):
    if f.startswith('.tmp-'):
      try:
        os.remove(os.path.join(directory, f))
        removed.append(f)
      except FileNotFoundError:
        pass
  return removed


def atomic_write_text(path: str, text: str) -> None:
  atomic_write_bytes(path, text.encode('utf-8'))


def path_for(directory: str, step: int) -> str:
  return os.path.join(directory, f'ckpt_{step:09d}.npz')


def _payload(tree, meta: dict) -> bytes:
  arrays = _flatten(tree)
  arrays['__meta__'] = np.frombuffer(json.dumps(meta).encode('utf-8'), np.uint8)
  buf = io.BytesIO()
  np.savez(buf, **arrays)
  return buf.getvalue()


def save_to(path: str, tree, meta: dict) -> str:
  """Writes a host numpy tree and its metadata to `path` atomically."""
  atomic_write_bytes(path, _payload(tree, meta))
  return path


def save(directory: str, step: int, state, meta: dict, keep: int = 3,
         best: bool = False) -> str:
  """Writes `state` (host numpy tree) atomically; keeps the latest `keep`.

  With `best`, the same bytes go to `best.npz` first, then to the step's file.
  """
  payload = _payload(state, dict(meta, step=int(step)))
  if best:
    atomic_write_bytes(os.path.join(directory, 'best.npz'), payload)
  path = path_for(directory, step)
  atomic_write_bytes(path, payload)
  for old in all_steps(directory)[:-keep]:
    try:
      os.remove(path_for(directory, old))
    except FileNotFoundError:
      pass
  return path


def all_steps(directory: str) -> list[int]:
  if not os.path.isdir(directory):
    return []
  return sorted(int(m.group(1)) for f in os.listdir(directory)
                if (m := _PATTERN.match(f)))


def latest(directory: str) -> str | None:
  steps = all_steps(directory)
  return path_for(directory, steps[-1]) if steps else None


class WorkdirLock:
  """`<workdir>/.lock` holding host and pid: one writer per workdir.

  A second launch stops at once with a message naming the holder. A lock left
  by a process of this host that no longer runs (kill -9) is taken over; one
  from another host is only reported (its job may still run on a shared
  filesystem): delete the file when that job is gone.
  """

  def __init__(self, workdir: str):
    self.path = os.path.join(workdir, '.lock')
    self.held = False

  def acquire(self) -> 'WorkdirLock':
    me = {'host': socket.gethostname(), 'pid': os.getpid(), 'time': time.time()}
    for _ in range(2):
      try:
        fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
      except FileExistsError:
        holder = self._holder()
        if holder is not None and not self._stale(holder):
          raise CheckpointError(
              f'{os.path.dirname(self.path)} is in use by pid {holder.get("pid")} on '
              f'{holder.get("host")} (since {time.ctime(holder.get("time", 0))}); '
              f'wait for it, or delete {self.path} if that job is gone')
        try:
          os.remove(self.path)  # stale: its process is gone
        except FileNotFoundError:
          pass
        continue
      with os.fdopen(fd, 'w') as f:
        json.dump(me, f)
      self.held = True
      return self
    raise CheckpointError(f'{self.path}: could not take the workdir lock')

  def _holder(self) -> dict | None:
    try:
      with open(self.path, encoding='utf-8') as f:
        return json.load(f)
    except (OSError, ValueError):
      return None  # unreadable or half-written: treated as stale

  @staticmethod
  def _stale(holder: dict) -> bool:
    if holder.get('host') != socket.gethostname():
      return False
    pid = int(holder.get('pid', -1))
    if pid == os.getpid():
      return True  # our own, from an earlier call in this process
    try:
      os.kill(pid, 0)
    except ProcessLookupError:
      return True
    except PermissionError:
      return False
    return False

  def release(self) -> None:
    if self.held:
      try:
        os.remove(self.path)
      except FileNotFoundError:
        pass
      self.held = False

  def __enter__(self):
    return self.acquire()

  def __exit__(self, *exc):
    self.release()


def _read_npz(path: str, read):
  """read(the open npz) for a checkpoint file, its failures as one-line errors."""
  try:
    with np.load(path, allow_pickle=False) as z:
      return read(z)
  except FileNotFoundError:
    raise CheckpointError(f'{path}: checkpoint not found') from None
  except Exception as e:  # zipfile.BadZipFile, KeyError, ValueError...
    raise CheckpointError(f'{path}: not a scratchgan-jax checkpoint ({e})') from None


def read_meta(path: str) -> dict:
  return _read_npz(path, lambda z: json.loads(bytes(z['__meta__']).decode('utf-8')))


def stored_names(path: str) -> list[str]:
  """Names of the arrays a checkpoint stores (read lazily, without the meta)."""
  return _read_npz(path, lambda z: [k for k in z.files if k != '__meta__'])


def stored_shapes(path: str, suffix: str) -> dict[str, tuple[int, ...]]:
  """Shapes of the stored arrays whose names end with `suffix` (read lazily)."""
  return _read_npz(path, lambda z: {k: z[k].shape for k in z.files if k.endswith(suffix)})


def restore(path: str, template) -> tuple[object, dict]:
  """Loads `path` into the structure of `template`; checks names and shapes."""
  if not os.path.exists(path):
    raise CheckpointError(f'{path}: checkpoint not found')
  try:
    with np.load(path, allow_pickle=False) as z:
      stored = {k: z[k] for k in z.files}
    meta = json.loads(bytes(stored.pop('__meta__')).decode('utf-8'))
  except Exception as e:  # not a zip, no __meta__, bad JSON...
    raise CheckpointError(f'{path}: not a scratchgan-jax checkpoint ({type(e).__name__}: '
                          f'{e})') from None
  flat, treedef = jax.tree_util.tree_flatten_with_path(template)
  leaves = []
  for p, t in flat:
    k = jax.tree_util.keystr(p)
    if k not in stored:
      raise CheckpointError(f'{path}: has no {k}; it was written by a '
                            'different model configuration')
    v = stored.pop(k)
    if v.shape != np.shape(t):
      raise CheckpointError(f'{path}: {k} has shape {v.shape}, the model '
                            f'expects {np.shape(t)} (different vocabulary '
                            'or model size?)')
    leaves.append(v.astype(np.asarray(t).dtype))
  if stored:
    raise CheckpointError(f'{path}: unexpected entries {sorted(stored)[:3]}; '
                          'it was written by a different model configuration')
  return jax.tree_util.tree_unflatten(treedef, leaves), meta
