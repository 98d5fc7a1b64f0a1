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


def rewards_from_logits(disc_logits: jax.Array, kind: str = 'linear',
                        mask: jax.Array | None = None) -> jax.Array:
  """Dense rewards from the discriminator's D_t = sigmoid(logit_t) [B, T].

  `linear` (the paper): r_t = 2 D_t - 1 in [-1, 1]; 0 at masked steps, whose
  logits the discriminator writes as 0. `log`: r_t = log D_t <= 0 at the steps
  of `mask` [B, T] (needed: log D is not 0 at a zero logit), 0 elsewhere --
  the reward of MaskGAN (Fedus, Goodfellow & Dai, ICLR 2018) and the
  non-saturating idea of Goodfellow et al. (2014): when the discriminator wins,
  2 D - 1 bunches every token near -1 (D = 0.02 and 0.1 give -0.96 and -0.8),
  while log D keeps them apart (-3.9 and -2.3).
  """
  if kind == 'linear':
    return 2.0 * jax.nn.sigmoid(disc_logits) - 1.0
  if kind != 'log' or mask is None:
    raise ValueError(f'reward kind {kind!r} (mask given: {mask is not None}): expected '
                     "'linear', or 'log' with a mask")
  return jnp.where(mask > 0, jax.nn.log_sigmoid(disc_logits), 0.0)


def oracle_rewards(oracle_lp: jax.Array, gen_lp: jax.Array, kind: str,
                   mask: jax.Array) -> jax.Array:
  """Diagnostic rewards [B, T] from the exact densities of each sampled token,
  log p_oracle(x_t|x_<t) and log p_gen(x_t|x_<t) [B, T], 0 outside `mask`.

  `oracle_log_ratio`: r_t = log p_oracle - log p_gen. With gamma = 1 and any
  baseline, REINFORCE's expected gradient is then -grad KL(p_gen || p_oracle)
  (E[grad log p_gen] = 0 removes the reward's dependence on the parameters):
  the reverse-KL objective a perfect discriminator stands for (Goodfellow et
  al. 2014; Nowozin et al., NeurIPS 2016). `oracle_token_disc`: r_t = 2 D*_t - 1
  with D*_t = sigmoid(log p_oracle - log p_gen), the probability that a
  Bayes-optimal judge of the token given its prefix calls it real (equal
  priors): the paper's reward range with a perfect per-token discriminator.
  """
  ratio = jax.lax.stop_gradient(oracle_lp - gen_lp)
  if kind == 'oracle_log_ratio':
    r = ratio
  elif kind == 'oracle_token_disc':
    r = 2.0 * jax.nn.sigmoid(ratio) - 1.0
  else:
    raise ValueError(f'oracle reward kind {kind!r}: expected oracle_log_ratio or '
                     'oracle_token_disc')
  return jnp.where(mask > 0, r, 0.0)


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


def _reduce(total: jax.Array, shape, reduction: str, batch_size: int | None) -> jax.Array:
  """A per-token sum reduced as the REINFORCE loss is: 'sum' divides by the
  batch (the paper), 'mean' by batch x time (the original code). `batch_size`
  (default: the rows of `shape`) lets a chunk be divided by the whole batch."""
  B = shape[0] if batch_size is None else batch_size
  if reduction == 'sum':
    return total / B
  if reduction == 'mean':
    return total / (B * shape[1])
  raise ValueError(f'unknown reduction {reduction!r}')


def reinforce_loss(log_probs: jax.Array, returns: jax.Array, baseline: jax.Array,
                   reduction: str = 'sum', batch_size: int | None = None) -> jax.Array:
  """-stop_gradient(R_t - b) log p(x_t), masked through `log_probs` (0 past PAD).

  reduction 'sum': summed over time, averaged over the batch (the paper);
  'mean': averaged over batch x time (the original code). `batch_size`
  (default: the rows given) lets a chunk be divided by the whole batch.
  """
  total = (-jax.lax.stop_gradient(returns - baseline) * log_probs).sum()
  return _reduce(total, log_probs.shape, reduction, batch_size)


def candidate_policy_loss(log_probs: jax.Array, token_log_probs: jax.Array,
                          sequence: jax.Array, mask: jax.Array, future_advantages: jax.Array,
                          token_rewards: jax.Array, candidates: jax.Array,
                          candidate_rewards: jax.Array, reduction: str = 'sum',
                          batch_size: int | None = None):
  """REINFORCE with the immediate reward's term summed over k candidate tokens.

  The return of a sampled token splits as R_t = r_t + gamma R_{t+1}. Its
  immediate part, E_{v ~ p(.|x_<t)}[r(x_<t, v)], is known for every v the
  discriminator scores (`candidate_rewards` [B, T, k] for the token ids
  `candidates` [B, T, k], a set S_t chosen from x_<t alone, e.g. the
  generator's k most likely tokens). Its gradient is taken as a sum over S_t
  plus the sampled token where it falls outside S_t (the sum-and-sample
  estimator: Liu et al., "Rao-Blackwellized stochastic gradients for discrete
  distributions", ICML 2019; all-action policy gradients: Ciosek & Whiteson,
  "Expected policy gradients", AAAI 2018):

    sum_{v in S_t} grad p(v) (r(v) - c_t) + [x_t not in S_t] grad log p(x_t) (r_t - c_t),

  unbiased for any c_t that depends on x_<t only; here the mean candidate
  reward under p renormalised on S_t. The rest of the return goes through the
  usual estimator: grad log p(x_t) times `future_advantages` [B, T] (gamma
  R_{t+1} minus a baseline of x_<t). With S_t the whole vocabulary and
  gamma = 0 the gradient is exact.

  log_probs [B, T, V] (log p(. | x_<t), differentiable); token_log_probs
  [B, T] (log p(x_t | x_<t), 0 past the end); token_rewards [B, T] r_t of the
  sampled tokens; mask [B, T]. Reduced like `reinforce_loss`. Returns (loss,
  [B, T] whether x_t was a candidate).
  """
  sg = jax.lax.stop_gradient
  p_cand = jnp.exp(jnp.take_along_axis(log_probs, candidates, axis=-1))  # [B, T, k]
  weights = sg(p_cand)
  control = (weights * candidate_rewards).sum(-1) / jnp.maximum(weights.sum(-1), 1e-30)
  in_set = (candidates == sequence[..., None]).any(-1)
  advantage = future_advantages + jnp.where(in_set, 0.0, token_rewards - control)
  exact = (p_cand * sg(candidate_rewards - control[..., None])).sum(-1)
  total = -((sg(advantage) * token_log_probs).sum() + (mask * exact).sum())
  return _reduce(total, token_log_probs.shape, reduction, batch_size), in_set


def mle_loss(log_probs: jax.Array, num_tokens: jax.Array) -> jax.Array:
  """Negative log-likelihood per valid token (teacher forcing)."""
  return -log_probs.sum() / jnp.maximum(num_tokens, 1)


def hybrid_mle_loss(log_probs: jax.Array, weight: float, reduction: str = 'sum',
                    batch_size: int | None = None) -> jax.Array:
  """`weight` times the real batch's negative log-likelihood, reduced like
  `reinforce_loss` (so a real token weighs as a sampled token of advantage
  `weight`): the maximum-likelihood term of GAN training mixed with MLE, as
  in LeakGAN's interleaved training (Guo et al., AAAI 2018) or MaliGAN's
  MLE-normalised objective (Che et al. 2017). `log_probs` are 0 past PAD."""
  return weight * _reduce(-log_probs.sum(), log_probs.shape, reduction, batch_size)


# ----------------------------------------------------------------------------
# Beyond the paper: options of the generator's policy-gradient update, each
# off by default. Their batch statistics are sums over rows, which the update
# step computes chunk by chunk and adds in a fixed order (device-count
# invariance); the functions below take those sums.


def position_totals(returns: jax.Array, mask: jax.Array):
  """(sum over rows of mask * R, number of unmasked rows), both [T]."""
  return (returns * mask).sum(axis=0), mask.sum(axis=0)


def update_position_baseline(baseline: jax.Array, total: jax.Array, count: jax.Array,
                             decay: float) -> jax.Array:
  """A moving-average baseline per position, b_t <- decay b_t + (1 - decay)
  mean_i R_it over the samples still running at t (`total`, `count` from
  `position_totals` over the batch); b_t is kept where none runs.

  With dense rewards and a discount, the returns' mean depends strongly on
  the position (a return near the end sums fewer rewards), so a scalar
  baseline leaves a per-position bias in the advantage; a time-dependent
  baseline is the standard remedy (Greensmith, Bartlett & Baxter, JMLR 2004;
  Williams 1992 allows any baseline that does not depend on the action).
  """
  mean = total / jnp.maximum(count, 1.0)
  new = decay * baseline + (1.0 - decay) * mean
  return jnp.where(count > 0, new, baseline)


def prefix_value(rewards: jax.Array, gamma: float) -> jax.Array:
  """v_t = G_t r_{t-1} [B, T] (v_0 = 0), G_t = sum_{k < T - t} gamma^k: the
  return from step t on if every later reward stayed at the reward of the
  prefix x_<t. It depends on the prefix only, so subtracting it from R_t is an
  unbiased baseline (a state-dependent baseline, Williams 1992; Sutton et al.,
  NeurIPS 2000) -- here a free critic: the recurrent discriminator's own score
  of the prefix, in the spirit of MaskGAN's learned critic (Fedus, Goodfellow
  & Dai, ICLR 2018). What is left, R_t - v_t, is how far the discriminator's
  opinion moved after x_t, not how bad the prefix already was."""
  T = rewards.shape[1]
  G = discounted_returns(jnp.ones((1, T), rewards.dtype), gamma)[0]
  prev = jnp.concatenate([jnp.zeros_like(rewards[:, :1]), rewards[:, :-1]], axis=1)
  return G[None, :] * prev


def leave_one_out_baseline(returns: jax.Array, mask: jax.Array, total: jax.Array,
                           count: jax.Array) -> jax.Array:
  """b_it = mean of R_jt over the other running samples j != i at position t
  ([B, T]; 0 where no other sample runs), from the batch's `position_totals`.
  Unbiased because b_it does not depend on sample i (Kool, van Hoof & Welling,
  "Buy 4 REINFORCE samples, get a baseline for free!", ICLR 2019 workshop;
  Mnih & Rezende 2016)."""
  others = count[None, :] - mask
  return jnp.where(others > 0, (total[None, :] - mask * returns)
                   / jnp.maximum(others, 1.0), 0.0)


def advantage_moments(advantages: jax.Array, mask: jax.Array) -> jax.Array:
  """[number, sum, sum of squares] of the unmasked advantages (to be summed
  over the batch, then given to `advantage_scale`)."""
  a = advantages * mask
  return jnp.stack([mask.sum(), a.sum(), (a * advantages).sum()])


def advantage_scale(moments: jax.Array, eps: float = 1e-6) -> jax.Array:
  """1 / (std of the unmasked advantages + eps), from the batch's moments.

  Normalising the advantages keeps the policy-gradient scale fixed when the
  discriminator wins and every reward shrinks towards -1 (the usual advantage
  normalisation of PPO implementations, Schulman et al. 2017), here without
  re-centring, so that the baseline option stays the only thing that centres.
  """
  n = jnp.maximum(moments[0], 1.0)
  mean = moments[1] / n
  var = jnp.maximum(moments[2] / n - mean * mean, 0.0)
  return 1.0 / (jnp.sqrt(var) + eps)


def clipped_surrogate_loss(log_probs: jax.Array, old_log_probs: jax.Array,
                           advantages: jax.Array, mask: jax.Array, clip: float,
                           reduction: str = 'sum',
                           batch_size: int | None = None):
  """PPO's clipped objective per token (Schulman et al., "Proximal Policy
  Optimization Algorithms", 2017), reduced like `reinforce_loss`:

      -min(rho_t A_t, clip(rho_t, 1 - eps, 1 + eps) A_t),
      rho_t = p(x_t) / p_old(x_t).

  At rho = 1 its gradient equals REINFORCE's; it lets one sampled batch serve
  several generator updates without moving far from the policy that drew it.
  Returns (loss, number of unmasked tokens whose ratio is clipped).
  """
  adv = jax.lax.stop_gradient(advantages)
  ratio = jnp.exp(log_probs - jax.lax.stop_gradient(old_log_probs))
  clipped = jnp.clip(ratio, 1.0 - clip, 1.0 + clip)
  per_token = -jnp.minimum(ratio * adv, clipped * adv) * mask
  total = per_token.sum()
  n_clipped = ((jnp.abs(ratio - 1.0) > clip) * mask).sum()
  return _reduce(total, log_probs.shape, reduction, batch_size), n_clipped


def entropy_bonus_loss(entropy: jax.Array, weight: float, reduction: str = 'sum',
                       batch_size: int | None = None) -> jax.Array:
  """-weight * H_t, reduced like `reinforce_loss` (`entropy` [B, T], zero past
  PAD): added to the policy-gradient loss, it rewards the generator for
  keeping each step's distribution spread out.

  The entropy bonus of policy-gradient methods (Williams & Peng, "Function
  optimization using connectionist reinforcement learning algorithms",
  Connection Science 1991; Mnih et al., "Asynchronous methods for deep
  reinforcement learning", ICML 2016), here with the exact entropy of each
  step's distribution over the vocabulary along the sampled prefix (the
  prefix is treated as given, as in those methods). It works against the
  mode dropping a winning discriminator drives the generator to.
  """
  return _reduce(-weight * entropy.sum(), entropy.shape, reduction, batch_size)
