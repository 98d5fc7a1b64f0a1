import jax
import jax.numpy as jnp
import numpy as np
import pytest

from scratchgan_jax import losses


@pytest.mark.parametrize('gamma', [0.0, 0.23, 0.79, 1.0])
def test_discounted_returns_equal_naive_double_loop(gamma):
  rewards = np.random.default_rng(0).uniform(-1, 1, size=(3, 11)).astype(np.float32)
  naive = np.zeros_like(rewards)
  for b in range(rewards.shape[0]):
    for t in range(rewards.shape[1]):
      naive[b, t] = sum(gamma ** (s - t) * rewards[b, s]
                        for s in range(t, rewards.shape[1]))
  got = np.asarray(losses.discounted_returns(jnp.asarray(rewards), gamma))
  np.testing.assert_allclose(got, naive, rtol=1e-5, atol=1e-6)


def test_rewards_are_bounded_and_zero_at_masked_logits():
  logits = jnp.array([[-50.0, 0.0, 50.0]])
  r = np.asarray(losses.rewards_from_logits(logits))
  np.testing.assert_allclose(r, [[-1.0, 0.0, 1.0]], atol=1e-6)


def test_log_rewards_are_log_d_on_the_mask_zero_off_it_and_finite_when_d_wins():
  logits = np.array([[-100.0, -3.0, 0.0, 4.0], [-2.0, 1.0, 0.0, 0.0]], np.float32)
  mask = np.array([[1, 1, 1, 1], [1, 1, 0, 0]], np.float32)
  r = np.asarray(losses.rewards_from_logits(jnp.asarray(logits), 'log', jnp.asarray(mask)))
  want = -np.log1p(np.exp(-logits.astype(np.float64))) * mask  # log sigmoid, float64
  np.testing.assert_allclose(r, want, rtol=1e-6, atol=1e-6)
  assert np.isfinite(r).all() and r[0, 0] == pytest.approx(-100.0)
  # Where D wins, log D spreads what 2 D - 1 bunches near -1.
  lin = np.asarray(losses.rewards_from_logits(jnp.asarray(logits)))
  assert lin[0, 1] - lin[0, 0] < 0.1 < r[0, 1] - r[0, 0]
  with pytest.raises(ValueError, match='mask'):
    losses.rewards_from_logits(jnp.asarray(logits), 'log')


def test_baseline_is_updated_before_use_with_mean_over_batch_and_time():
  returns = jnp.array([[1.0, 2.0], [3.0, 6.0]])
  b = losses.update_baseline(jnp.float32(0.5), returns.mean(), decay=0.08)
  np.testing.assert_allclose(float(b), 0.08 * 0.5 + 0.92 * 3.0, rtol=1e-6)


def test_reinforce_gradient_is_advantage_times_score_and_stops_at_returns():
  lp = jnp.array([[-1.0, -2.0, 0.0]])  # last step masked (log p = 0)
  returns = jnp.array([[0.5, -0.25, 0.0]])
  b = jnp.float32(0.1)
  g = jax.grad(lambda x: losses.reinforce_loss(x, returns, b, 'sum'))(lp)
  np.testing.assert_allclose(np.asarray(g), -(np.asarray(returns) - 0.1), rtol=1e-6)
  g_ret = jax.grad(lambda r: losses.reinforce_loss(lp, r, b, 'sum'))(returns)
  assert not np.asarray(g_ret).any()
  mean = losses.reinforce_loss(lp, returns, b, 'mean')
  total = losses.reinforce_loss(lp, returns, b, 'sum')
  np.testing.assert_allclose(float(mean) * 3, float(total), rtol=1e-6)


def test_discriminator_loss_matches_formula():
  real = jnp.array([[2.0, -1.0]])
  fake = jnp.array([[0.5, 3.0]])
  sig = lambda x: 1 / (1 + np.exp(-np.asarray(x)))
  expected = (0.5 * -np.log(sig(real)).mean() + 0.5 * -np.log(1 - sig(fake)).mean())
  np.testing.assert_allclose(float(losses.discriminator_loss(real, fake)), expected,
                             rtol=1e-5)


def test_l2_loss_is_half_sum_of_squares():
  params = {'a': jnp.array([1.0, 2.0]), 'b': {'c': jnp.array([[3.0]])}}
  assert float(losses.l2_loss(params)) == pytest.approx(0.5 * (1 + 4 + 9))


def test_chunked_normalisers_add_up_to_the_whole_batch():
  rng = np.random.default_rng(1)
  real, fake = (jnp.asarray(rng.normal(size=(4, 5))) for _ in range(2))
  whole = losses.discriminator_loss(real, fake)
  parts = sum(losses.discriminator_loss(real[i:i + 2], fake[i:i + 2], normalizer=20)
              for i in (0, 2))
  np.testing.assert_allclose(float(parts), float(whole), rtol=1e-6)
  lp = jnp.asarray(-rng.uniform(size=(4, 5)))
  ret = jnp.asarray(rng.normal(size=(4, 5)))
  for red in ('sum', 'mean'):
    whole = losses.reinforce_loss(lp, ret, 0.1, red)
    parts = sum(losses.reinforce_loss(lp[i:i + 2], ret[i:i + 2], 0.1, red, batch_size=4)
                for i in (0, 2))
    np.testing.assert_allclose(float(parts), float(whole), rtol=1e-6)
  assert float(losses.mle_loss(jnp.array([[-1.0, -3.0, 0.0]]), 2)) == pytest.approx(2.0)


def test_absorbing_end_removes_the_premium_on_ending_when_every_reward_is_negative():
  """The COCO collapse: with the discriminator winning (r = -1 everywhere),
  `zero` makes an empty sentence (PAD first) the best return at t = 0; with the
  absorbing end, every length gets the same return."""
  T, gamma = 10, 0.5
  lengths = jnp.array([1, 4, T])  # PAD at 0, PAD at 3, no PAD
  mask = jnp.arange(T)[None, :] < lengths[:, None]
  r = jnp.where(mask, -1.0, 0.0)  # logits past the end are 0: reward 0
  zero = losses.discounted_returns(r, gamma)[:, 0]
  assert zero[0] > zero[1] > zero[2]
  absorbed = losses.discounted_returns(losses.absorb_end(r, lengths), gamma)[:, 0]
  np.testing.assert_allclose(absorbed, np.full(3, -(1 - gamma ** T) / (1 - gamma)),
                             rtol=1e-6)


def test_absorb_end_repeats_the_first_pad_reward_and_keeps_earlier_ones():
  rng = np.random.default_rng(0)
  r = rng.normal(size=(4, 7)).astype(np.float32)
  lengths = np.array([1, 3, 7, 6])
  want = r.copy()
  for i, n in enumerate(lengths):
    want[i, n:] = r[i, n - 1]
  np.testing.assert_array_equal(losses.absorb_end(jnp.asarray(r), jnp.asarray(lengths)), want)
