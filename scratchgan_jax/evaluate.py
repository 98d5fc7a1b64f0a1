"""Evaluation: sampling from a generator and the metrics computed on samples."""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from scratchgan_jax import models
from scratchgan_jax import oracle as oracle_lib


@functools.partial(jax.jit, static_argnums=(0, 3))
def _sample_jit(gen, params, key, batch_size, temperature):
  return gen.sample(params, key, batch_size, temperature)


def sample_tokens(gen: models.GeneratorFns, params, num: int, seed: int,
                  temperature: float = 1.0, batch_size: int = 500) -> np.ndarray:
  """`num` sequences [num, T] int32, deterministic given `seed`."""
  key = jax.random.key(seed)
  out, i = [], 0
  while sum(len(o) for o in out) < num:
    seq, _ = _sample_jit(gen, params, jax.random.fold_in(key, i), batch_size,
                         jnp.float32(temperature))
    out.append(np.asarray(seq))
    i += 1
  return np.concatenate(out)[:num]


@functools.partial(jax.jit, static_argnums=(0,))
def _nll_sums(gen, params, seqs, mask):
  lp = gen.log_prob(params, seqs)
  return -(lp * mask).sum(), mask.sum()


def token_nll(gen: models.GeneratorFns, params, sequences: np.ndarray, eos: bool,
              batch_size: int = 500) -> float:
  """Teacher-forced NLL per token (nats) of `sequences` under the generator.

  With eos, each sentence counts its tokens up to and including its end PAD
  (the validation perplexity of the paper is exp of this).
  """
  total, count = 0.0, 0.0
  n = len(sequences)
  for s in range(0, n, batch_size):
    x = sequences[s:s + batch_size]
    pad = batch_size - len(x)
    if pad:  # Keep one compiled shape: pad the last chunk with masked rows.
      x = np.concatenate([x, np.repeat(x[:1], pad, 0)])
    mask = np.asarray(models.sequence_mask(jnp.asarray(x), eos), np.float32)
    if pad:
      mask[-pad:] = 0
    t, c = _nll_sums(gen, params, jnp.asarray(x), jnp.asarray(mask))
    total += float(t)
    count += float(c)
  return total / max(count, 1.0)


def oracle_metrics(gen: models.GeneratorFns, params, oracle_params, held_out,
                   num_samples: int, seed: int, temperature: float = 1.0) -> dict:
  """NLL-oracle (samples under the oracle) and NLL-test (held-out under G)."""
  samples = sample_tokens(gen, params, num_samples, seed, temperature)
  return {
      'nll_oracle': oracle_lib.nll(oracle_params, samples),
      'nll_test': token_nll(gen, params, held_out, eos=False),
  }, samples
