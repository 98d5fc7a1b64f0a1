"""The synthetic oracle of SeqGAN / LeakGAN / RelGAN / Texygen.

An LSTM language model with fixed parameters (vocabulary 5000, embedding 32,
hidden 32, length 20). Either random N(0, 1) parameters built from a seed, or
the published SeqGAN `target_params` (as `.npz`, keys in SeqGAN order). The
cell is SeqGAN's:

  i = sig(x Wi + h Ui + bi)   f = sig(x Wf + h Uf + bf)   o = sig(x Wog + h Uog + bog)
  c~ = tanh(x Wc + h Uc + bc)  c = f*c + i*c~  h = o*tanh(c)  logits = h Wo + bo

h0 = c0 = 0 and the first input is the embedding of the start token 0. Token 0
is an ordinary token afterwards (there is no end-of-sentence).

Sampling and scoring run jitted on the CPU backend, so the oracle data of a
seed is the same whichever accelerator the run uses.
"""
from __future__ import annotations

import functools
import os

import jax
import jax.numpy as jnp
import numpy as np

from scratchgan_jax import data as data_lib

KEYS = ('g_embeddings', 'Wi', 'Ui', 'bi', 'Wf', 'Uf', 'bf', 'Wog', 'Uog', 'bog',
        'Wc', 'Uc', 'bc', 'Wo', 'bo')
START_TOKEN = 0


def random_oracle(seed: int, vocab_size: int = 5000, embedding_size: int = 32,
                  hidden_size: int = 32) -> dict[str, np.ndarray]:
  """Random N(0, 1) oracle parameters, a deterministic function of `seed`."""
  rng = np.random.default_rng([seed, 1234])
  V, E, H = vocab_size, embedding_size, hidden_size
  shapes = {'g_embeddings': (V, E), 'Wo': (H, V), 'bo': (V,)}
  for g in ('i', 'f', 'og', 'c'):
    shapes[f'W{g}'] = (E, H)
    shapes[f'U{g}'] = (H, H)
    shapes[f'b{g}'] = (H,)
  return {k: rng.standard_normal(shapes[k]).astype(np.float32) for k in KEYS}


def load_oracle(path: str) -> dict[str, np.ndarray]:
  """SeqGAN oracle from an `.npz` with the 15 arrays of `target_params`."""
  if not os.path.exists(path):
    raise data_lib.DataError(f'{path}: --oracle_params file not found')
  try:
    with np.load(path, allow_pickle=False) as z:
      params = {k: np.asarray(z[k], np.float32) for k in z.files}
  except Exception as e:  # zipfile/ValueError/OSError: all mean a bad file.
    raise data_lib.DataError(f'{path}: not a readable .npz ({e})') from None
  missing = [k for k in KEYS if k not in params]
  if missing:
    raise data_lib.DataError(f'{path}: missing oracle arrays {missing} '
                             f'(expected SeqGAN keys {list(KEYS)})')
  V, E = params['g_embeddings'].shape
  H = params['Ui'].shape[0]
  if params['Wo'].shape != (H, V) or params['Wi'].shape != (E, H):
    raise data_lib.DataError(f'{path}: inconsistent oracle shapes')
  return {k: params[k] for k in KEYS}


def _cpu():
  # This process's own CPU device: in a multi-process run `jax.devices('cpu')`
  # lists every process's devices, and [0] belongs to process 0.
  return jax.local_devices(backend='cpu')[0]


def _cell(p, x, h, c):
  i = jax.nn.sigmoid(x @ p['Wi'] + h @ p['Ui'] + p['bi'])
  f = jax.nn.sigmoid(x @ p['Wf'] + h @ p['Uf'] + p['bf'])
  o = jax.nn.sigmoid(x @ p['Wog'] + h @ p['Uog'] + p['bog'])
  cc = jnp.tanh(x @ p['Wc'] + h @ p['Uc'] + p['bc'])
  c = f * c + i * cc
  h = o * jnp.tanh(c)
  return h, c, h @ p['Wo'] + p['bo']


@functools.partial(jax.jit, static_argnums=(1, 2))
def _sample_chunk(p, n, length, key):
  H = p['Ui'].shape[0]

  def body(carry, k):
    h, c, tok = carry
    h, c, logits = _cell(p, p['g_embeddings'][tok], h, c)
    # Inverse-CDF draw: one uniform per row (Gumbel-max would need V of them).
    cdf = jnp.cumsum(jax.nn.softmax(logits), axis=-1)
    u = jax.random.uniform(k, (n, 1)) * cdf[:, -1:]
    tok = jnp.minimum((cdf < u).sum(-1), logits.shape[-1] - 1).astype(jnp.int32)
    return (h, c, tok), tok

  init = (jnp.zeros((n, H)), jnp.zeros((n, H)),
          jnp.full((n,), START_TOKEN, jnp.int32))
  _, toks = jax.lax.scan(body, init, jax.random.split(key, length))
  return toks.T


def _scan_log_probs(p, x, per_step):
  """Teacher-forced scan of the oracle over x [n, T]: `per_step(log-probs of
  each row's token at t)` is stacked over t."""
  n, H = x.shape[0], p['Ui'].shape[0]
  inputs = jnp.concatenate([jnp.full((n, 1), START_TOKEN, x.dtype), x[:, :-1]], 1)

  def body(carry, xs):
    h, c = carry
    tok_in, tok_out = xs
    h, c, logits = _cell(p, p['g_embeddings'][tok_in], h, c)
    lp = jax.nn.log_softmax(logits)
    return (h, c), per_step(jnp.take_along_axis(lp, tok_out[:, None], 1)[:, 0])

  _, out = jax.lax.scan(body, (jnp.zeros((n, H)), jnp.zeros((n, H))), (inputs.T, x.T))
  return out


@jax.jit
def _nll_chunk(p, x):
  return _scan_log_probs(p, x, lambda lp: -lp.sum()).sum()


def token_log_probs(params, sequences: jax.Array) -> jax.Array:
  """log p_oracle(x_t | x_<t) [B, T] of `sequences` [B, T] (traceable: runs
  where it is called, on whatever device holds its inputs). The exact
  per-token density the `--reward_source=oracle_*` diagnostics reward with."""
  p = {k: jnp.asarray(params[k], jnp.float32) for k in KEYS}
  return _scan_log_probs(p, sequences.astype(jnp.int32), lambda lp: lp).T


def _on_cpu(params):
  return {k: jax.device_put(np.asarray(v, np.float32), _cpu())
          for k, v in params.items()}


def sample(params: dict[str, np.ndarray], num: int, length: int, seed: int,
           chunk: int = 2500) -> np.ndarray:
  """`num` sequences of `length` tokens from the oracle, deterministic in seed.

  Runs on the CPU backend whatever the default device, so the data of a seed
  does not depend on the accelerator.
  """
  p = _on_cpu(params)
  key = jax.device_put(jax.random.key(seed), _cpu())
  out = []
  for i, s in enumerate(range(0, num, chunk)):
    n = min(chunk, num - s)
    out.append(np.asarray(_sample_chunk(p, n, length, jax.random.fold_in(key, i))))
  return np.concatenate(out).astype(np.int32)


def nll(params: dict[str, np.ndarray], sequences: np.ndarray,
        chunk: int = 2500) -> float:
  """NLL-oracle: mean negative log-likelihood per token (nats) of `sequences`."""
  seqs = np.asarray(sequences)
  if seqs.ndim != 2 or seqs.size == 0:
    raise data_lib.DataError('oracle NLL needs a non-empty [N, T] array of ids')
  V = params['g_embeddings'].shape[0]
  if seqs.min() < 0 or seqs.max() >= V:
    raise data_lib.DataError(f'token ids must be in [0, {V}) for this oracle')
  p = _on_cpu(params)
  total = 0.0
  for s in range(0, len(seqs), chunk):
    x = jax.device_put(seqs[s:s + chunk].astype(np.int32), _cpu())
    total += float(_nll_chunk(p, x))
  return total / seqs.size


def read_id_file(path: str, vocab_size: int | None = None,
                 length: int | None = None) -> np.ndarray:
  """A file of space-separated token ids, one sequence per line."""
  lines = data_lib.read_lines(path, 'token-id file')
  rows = []
  for n, line in enumerate(lines, start=1):
    try:
      row = [int(t) for t in line.split()]
    except ValueError:
      raise data_lib.DataError(f'{path}: line {n} is not space-separated '
                               'integer token ids') from None
    if length is not None and len(row) != length:
      raise data_lib.DataError(f'{path}: line {n} has {len(row)} ids, '
                               f'expected {length}')
    if vocab_size is not None and any(not 0 <= t < vocab_size for t in row):
      raise data_lib.DataError(f'{path}: line {n} has an id outside '
                               f'[0, {vocab_size})')
    rows.append(row)
  if length is None and len({len(r) for r in rows}) != 1:
    raise data_lib.DataError(f'{path}: lines have different numbers of ids')
  return np.asarray(rows, np.int32)


def make_dataset(params: dict[str, np.ndarray], length: int, num_train: int,
                 num_valid: int, seed: int) -> data_lib.Dataset:
  """Training and held-out oracle samples (independent seeds)."""
  train = sample(params, num_train, length, seed=seed * 2 + 1)
  valid = sample(params, num_valid, length, seed=seed * 2 + 2)
  V = params['g_embeddings'].shape[0]
  full = lambda x: np.full((len(x),), length, np.int32)
  return data_lib.Dataset('oracle', train, full(train), valid, full(valid),
                          vocab=None, vocab_size=V, eos=False)
