"""Atomic, dependency-free checkpoints of the full train state (.npz).

A checkpoint is one `.npz` holding every leaf of the state under its tree path
(`jax.tree_util.keystr`) plus a JSON `__meta__` entry (step, data position,
vocabulary fingerprint, config). It is written to a temporary file and moved
into place with `os.replace`, so a crash never leaves a half-written
checkpoint. Files: `<dir>/ckpt_<step:09d>.npz`; the best one is also copied to
`<dir>/best.npz`.
"""
from __future__ import annotations

import io
import json
import os
import re
import shutil
import tempfile

import jax
import numpy as np

_PATTERN = re.compile(r'^ckpt_(\d{9})\.npz$')
_UMASK = os.umask(0)
os.umask(_UMASK)


class CheckpointError(ValueError):
  """A checkpoint that is missing, corrupt or does not match the model."""


def _flatten(tree) -> dict[str, np.ndarray]:
  flat, _ = jax.tree_util.tree_flatten_with_path(tree)
  return {jax.tree_util.keystr(p): np.asarray(v) for p, v in flat}


def atomic_write_bytes(path: str, payload: bytes) -> None:
  d = os.path.dirname(os.path.abspath(path))
  os.makedirs(d, exist_ok=True)
  fd, tmp = tempfile.mkstemp(dir=d, prefix='.tmp-', suffix=os.path.basename(path))
  try:
    os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; use the usual mode
    with os.fdopen(fd, 'wb') as f:
      f.write(payload)
      f.flush()
      os.fsync(f.fileno())
    os.replace(tmp, path)
  except BaseException:
    if os.path.exists(tmp):
      os.remove(tmp)
    raise


def atomic_write_text(path: str, text: str) -> None:
  atomic_write_bytes(path, text.encode('utf-8'))


def path_for(directory: str, step: int) -> str:
  return os.path.join(directory, f'ckpt_{step:09d}.npz')


def save_to(path: str, tree, meta: dict) -> str:
  """Writes a host numpy tree and its metadata to `path` atomically."""
  arrays = _flatten(tree)
  arrays['__meta__'] = np.frombuffer(json.dumps(meta).encode('utf-8'), np.uint8)
  buf = io.BytesIO()
  np.savez(buf, **arrays)
  atomic_write_bytes(path, buf.getvalue())
  return path


def save(directory: str, step: int, state, meta: dict, keep: int = 3) -> str:
  """Writes `state` (host numpy tree) atomically; keeps the latest `keep`."""
  path = save_to(path_for(directory, step), state, dict(meta, step=int(step)))
  for old in all_steps(directory)[:-keep]:
    os.remove(path_for(directory, old))
  return path


def all_steps(directory: str) -> list[int]:
  if not os.path.isdir(directory):
    return []
  return sorted(int(m.group(1)) for f in os.listdir(directory)
                if (m := _PATTERN.match(f)))


def latest(directory: str) -> str | None:
  steps = all_steps(directory)
  return path_for(directory, steps[-1]) if steps else None


def mark_best(directory: str, path: str) -> str:
  best = os.path.join(directory, 'best.npz')
  fd, tmp = tempfile.mkstemp(dir=directory, prefix='.tmp-best')
  os.close(fd)
  shutil.copyfile(path, tmp)
  os.chmod(tmp, 0o666 & ~_UMASK)
  os.replace(tmp, best)
  return best


def read_meta(path: str) -> dict:
  try:
    with np.load(path, allow_pickle=False) as z:
      return json.loads(bytes(z['__meta__']).decode('utf-8'))
  except FileNotFoundError:
    raise CheckpointError(f'{path}: checkpoint not found') from None
  except Exception as e:  # zipfile.BadZipFile, KeyError, ValueError...
    raise CheckpointError(f'{path}: not a scratchgan-jax checkpoint ({e})') from None


def restore(path: str, template) -> tuple[object, dict]:
  """Loads `path` into the structure of `template`; checks names and shapes."""
  if not os.path.exists(path):
    raise CheckpointError(f'{path}: checkpoint not found')
  try:
    z = np.load(path, allow_pickle=False)
    stored = {k: z[k] for k in z.files}
  except Exception as e:
    raise CheckpointError(f'{path}: unreadable checkpoint ({e})') from None
  meta = json.loads(bytes(stored.pop('__meta__')).decode('utf-8'))
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
