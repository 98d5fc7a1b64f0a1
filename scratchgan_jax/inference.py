"""Using a generator: sampling, per-token NLL, oracle metrics, and the LSTM language
models behind the LM / reverse-LM scores."""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from scratchgan_jax import models
from scratchgan_jax import oracle as oracle_lib
from scratchgan_jax import parallel


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
    out.append(parallel.to_host(seq))  # works on every process of a pod
    i += 1
  return np.concatenate(out)[:num]


@functools.partial(jax.jit, static_argnums=(0,))
def _nll_sums(gen, params, seqs, mask, temperature):
  lp = gen.log_prob(params, seqs, temperature=temperature)
  return -(lp * mask).sum(), mask.sum()


def token_nll(gen: models.GeneratorFns, params, sequences: np.ndarray, eos: bool,
              batch_size: int = 500, temperature: float = 1.0) -> float:
  """Teacher-forced NLL per token (nats) of `sequences` under the generator
  (its softmax at `temperature`).

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
    t, c = _nll_sums(gen, params, jnp.asarray(x), jnp.asarray(mask),
                     jnp.float32(temperature))
    total += float(parallel.to_host(t))
    count += float(parallel.to_host(c))
  return total / max(count, 1.0)


def oracle_metrics(gen: models.GeneratorFns, params, oracle_params, held_out,
                   num_samples: int, seed: int, temperature: float = 1.0) -> dict:
  """NLL-oracle (samples under the oracle) and NLL-test (held-out under G)."""
  samples = sample_tokens(gen, params, num_samples, seed, temperature)
  return {
      'nll_oracle': oracle_lib.nll(oracle_params, samples),
      'nll_test': token_nll(gen, params, held_out, eos=False),
  }, samples


def train_lm(sequences: np.ndarray, vocab_size: int, eos: bool, *, steps: int = 2000,
             batch_size: int = 128, feature_size: int = 256, embedding_size: int = 64,
             lr: float = 3e-3, seed: int = 0):
  """An LSTM language model (the generator trained by MLE) on `sequences`.

  Used for the LM score (LM trained on real data scores the samples) and the
  reverse-LM score (LM trained on samples scores real validation data).
  Returns (GeneratorFns, params).
  """
  from scratchgan_jax import data as data_lib  # pylint: disable=g-import-not-at-top
  from scratchgan_jax import parallel, train  # pylint: disable=g-import-not-at-top
  from scratchgan_jax.config import Config  # pylint: disable=g-import-not-at-top
  cfg = Config.for_model(objective='mle', batch_size=batch_size,
               max_length=sequences.shape[1], gen_feature_size=feature_size,
               num_layers_gen=1, trainable_embedding_size=embedding_size, gen_lr=lr,
               gen_beta1=0.9, grad_chunks=1, selection_metric='valid_nll')
  setup = train.make_setup(cfg, vocab_size, None, eos=eos)
  mesh = parallel.make_mesh(1)
  state = parallel.replicate(train.init_state(setup, seed), mesh)
  update = train.compile_update(setup, mesh)
  lengths = data_lib.lengths_from_sequences(sequences, eos)
  for step in range(steps):
    b = data_lib.get_batch(sequences, lengths, step=step, batch_size=batch_size,
                           seed=seed, shuffle=True)
    state, _ = update(state, parallel.shard_batch(b, mesh))
  return setup.gen, jax.device_get(state.eval_params)
