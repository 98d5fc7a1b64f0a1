"""Losses of ScratchGAN and of the maximum-likelihood baseline."""
from __future__ import annotations

import jax
import jax.numpy as jnp


def discounted_returns(rewards: jax.Array, gamma: float) -> jax.Array:
  """R_t = sum_{s >= t} gamma^(s - t) r_s for rewards [B, T] (reverse scan)."""
  def body(acc, r_t):
    acc = r_t + gamma * acc
    return acc, acc

  _, out = jax.lax.scan(body, jnp.zeros_like(rewards[:, 0]), rewards.T,
                        reverse=True)
  return out.T


def rewards_from_logits(disc_logits: jax.Array) -> jax.Array:
  """Dense rewards r_t = 2 sigmoid(D_t) - 1 in [-1, 1] (0 at masked steps)."""
  return 2.0 * jax.nn.sigmoid(disc_logits) - 1.0


def absorb_end(rewards: jax.Array, lengths: jax.Array) -> jax.Array:
  """Rewards [B, T] with the reward at each row's end (position lengths-1, its
  first PAD) repeated over the positions after it: the end is absorbing."""
  T = rewards.shape[1]
  idx = jnp.minimum(jnp.arange(T)[None, :], lengths[:, None] - 1)
  return jnp.take_along_axis(rewards, idx, axis=1)


def sigmoid_cross_entropy(logits: jax.Array, label: float) -> jax.Array:
  return jnp.maximum(logits, 0) - logits * label + jnp.log1p(jnp.exp(-jnp.abs(logits)))


def discriminator_loss(real_logits: jax.Array, fake_logits: jax.Array,
                       normalizer: float | None = None) -> jax.Array:
  """0.5 CE(real, 1) + 0.5 CE(fake, 0), averaged over batch x time.

  As in the original, masked steps (logit 0) stay in the average; they add a
  constant and no gradient. `normalizer` (default: the number of positions)
  lets a chunk of a batch be divided by the whole batch's B x T.
  """
  n = real_logits.size if normalizer is None else normalizer
  return (0.5 * sigmoid_cross_entropy(real_logits, 1.0).sum()
          + 0.5 * sigmoid_cross_entropy(fake_logits, 0.0).sum()) / n


def l2_loss(params) -> jax.Array:
  """sum(w^2) / 2 over all leaves (tf.nn.l2_loss convention)."""
  leaves = jax.tree.leaves(params)
  if not leaves:
    return jnp.zeros(())
  return sum(0.5 * jnp.sum(jnp.square(x)) for x in leaves)


def update_baseline(baseline: jax.Array, mean_return: jax.Array,
                    decay: float) -> jax.Array:
  """b <- decay * b + (1 - decay) * mean(R), the mean over batch and time."""
  return decay * baseline + (1.0 - decay) * mean_return


def reinforce_loss(log_probs: jax.Array, returns: jax.Array, baseline: jax.Array,
                   reduction: str = 'sum', batch_size: int | None = None) -> jax.Array:
  """-stop_gradient(R_t - b) log p(x_t), masked through `log_probs` (0 past PAD).

  reduction 'sum': summed over time, averaged over the batch (the paper);
  'mean': averaged over batch x time (the original code). `batch_size`
  (default: the rows given) lets a chunk be divided by the whole batch.
  """
  B = log_probs.shape[0] if batch_size is None else batch_size
  total = (-jax.lax.stop_gradient(returns - baseline) * log_probs).sum()
  if reduction == 'sum':
    return total / B
  if reduction == 'mean':
    return total / (B * log_probs.shape[1])
  raise ValueError(f'unknown reduction {reduction!r}')


def mle_loss(log_probs: jax.Array, num_tokens: jax.Array) -> jax.Array:
  """Negative log-likelihood per valid token (teacher forcing)."""
  return -log_probs.sum() / jnp.maximum(num_tokens, 1)
