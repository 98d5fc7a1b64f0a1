import jax
import jax.numpy as jnp
import numpy as np
import pytest

from scratchgan_jax import models


def test_mask_keeps_first_pad_and_masks_the_rest():
  seq = jnp.array([[5, 3, 0, 7, 0, 2],
                   [0, 4, 4, 4, 4, 4],
                   [1, 2, 3, 4, 5, 6]])
  mask = np.asarray(models.sequence_mask(seq))
  np.testing.assert_array_equal(mask, [[1, 1, 1, 0, 0, 0],
                                       [1, 0, 0, 0, 0, 0],
                                       [1, 1, 1, 1, 1, 1]])
  np.testing.assert_array_equal(np.asarray(models.first_pad_length(seq)), [3, 1, 6])
  assert np.asarray(models.sequence_mask(seq, eos=False)).all()


def test_paper_position_signal_has_the_specified_periods():
  T = 52
  sig = models.position_signal(T, 'paper')
  assert sig.shape == (T, 8)
  periods = np.exp(np.linspace(np.log(2), np.log(4 * T), 8))
  assert periods[0] == pytest.approx(2) and periods[-1] == pytest.approx(4 * T)
  t = np.arange(T)
  for i, p in enumerate(periods):
    np.testing.assert_allclose(sig[:, i], np.sin(2 * np.pi * t / p), atol=1e-6)
  # Log-linear spacing: constant ratio between consecutive periods.
  np.testing.assert_allclose(periods[1:] / periods[:-1], periods[1] / periods[0])
  # The longest period (4T) is monotone over the whole sequence.
  assert np.all(np.diff(sig[:, -1]) > 0)


def test_code_position_signal_matches_original_formula():
  T = 52
  sig = models.position_signal(T, 'code')
  periods = np.exp(np.linspace(np.log(2.0), np.log(T), 8))
  shifts = np.linspace(0, 2, 8)
  t = np.arange(T)[:, None]
  np.testing.assert_allclose(sig, np.cos(np.pi * (t / periods + shifts)), atol=1e-6)


def _gen(num_layers, pretrained=None, eos=True):
  return models.make_generator(23, 9, feature_size=12, num_layers=num_layers,
                               trainable_embedding_size=6, pretrained=pretrained,
                               eos=eos)


def _slow_log_probs(params, seq, num_layers):
  """Step-by-step numpy reimplementation of the generator (the spec, literally)."""
  p = {k: {kk: np.asarray(vv, np.float64) for kk, vv in v.items()}
       for k, v in params.items()}
  g = p['generator']
  lstm = p['generator/~/lstm']
  E = g['trainable_embedding']
  if 'pretrained_embedding' in g:
    E = np.concatenate([g['pretrained_embedding'], E], 1)
  out_proj = g['out_proj'] if num_layers > 1 else g['in_proj'].T
  sig = lambda x: 1 / (1 + np.exp(-x))
  B, T = seq.shape
  H = g['in_proj'].shape[1]
  h = [np.zeros((B, H)) for _ in range(num_layers)]
  c = [np.zeros((B, H)) for _ in range(num_layers)]
  prev = np.zeros(B, int)
  out = np.zeros((B, T))
  for t in range(T):
    x = E[prev] @ g['in_proj']  # previous token through the input projection
    below, outs = None, []
    for l in range(num_layers):
      rec = h[l] if below is None else np.concatenate([below, h[l]], 1)
      gates = x @ lstm[f'w_input_{l}'] + rec @ lstm[f'w_recurrent_{l}'] + lstm[f'bias_{l}']
      i, gg, f, o = np.split(gates, 4, 1)
      c[l] = sig(f + 1) * c[l] + sig(i) * np.tanh(gg)
      h[l] = sig(o) * np.tanh(c[l])
      outs.append(h[l])
      below = h[l]
    logits = np.concatenate(outs, 1) @ out_proj @ E.T + g['out_bias']
    logits -= logits.max(1, keepdims=True)
    lp = logits - np.log(np.exp(logits).sum(1, keepdims=True))
    out[:, t] = lp[np.arange(B), seq[:, t]]
    prev = seq[:, t]
  mask = np.asarray(models.sequence_mask(jnp.asarray(seq)))
  return out * mask


@pytest.mark.parametrize('num_layers', [1, 2, 3])
def test_teacher_forced_log_prob_equals_step_by_step_implementation(num_layers):
  pre = np.random.default_rng(0).normal(size=(23, 5)).astype(np.float32)
  gen = _gen(num_layers, pretrained=pre)
  params = gen.init(jax.random.key(0))
  seq = np.array([[3, 4, 0, 9, 9, 9, 9, 9, 9],
                  [1, 2, 3, 4, 5, 6, 7, 8, 22]], np.int32)
  got = np.asarray(gen.log_prob(params, jnp.asarray(seq)))
  np.testing.assert_allclose(got, _slow_log_probs(params, seq, num_layers),
                             rtol=2e-4, atol=2e-5)
  assert (got[0, 3:] == 0).all()  # masked past the first PAD


def test_sample_shapes_masking_and_determinism():
  gen = _gen(2)
  params = gen.init(jax.random.key(0))
  seq, length = gen.sample(params, jax.random.key(1), 64)
  seq, length = np.asarray(seq), np.asarray(length)
  assert seq.shape == (64, 9) and seq.dtype == np.int32 and length.shape == (64,)
  for row, n in zip(seq, length):
    pads = np.where(row == 0)[0]
    if len(pads):
      assert n == pads[0] + 1 and (row[pads[0]:] == 0).all()
    else:
      assert n == 9
  seq2, _ = gen.sample(params, jax.random.key(1), 64)
  np.testing.assert_array_equal(seq, np.asarray(seq2))


def test_sampler_draws_from_the_model_distribution():
  """The empirical first-token distribution matches softmax of the logits."""
  gen = models.make_generator(5, 2, feature_size=4, num_layers=1,
                              trainable_embedding_size=3, eos=False)
  params = gen.init(jax.random.key(3))
  params['generator']['out_bias'] = jnp.array([0.0, 1.0, -1.0, 2.0, 0.5])
  seq, _ = gen.sample(params, jax.random.key(0), 20000)
  first = np.bincount(np.asarray(seq)[:, 0], minlength=5) / 20000
  logits = np.asarray(gen.logits(params, jnp.zeros((1, 2), jnp.int32)))[0, 0]
  p = np.exp(logits - logits.max())
  p /= p.sum()
  np.testing.assert_allclose(first, p, atol=0.015)


def test_temperature_scales_log_probs():
  gen = _gen(1)
  params = gen.init(jax.random.key(0))
  seq = jnp.array([[1, 2, 3, 4, 5, 6, 7, 8, 9]], jnp.int32)
  logits = gen.logits(params, seq) / 0.7
  expected = jnp.take_along_axis(jax.nn.log_softmax(logits), seq[..., None], -1)[..., 0]
  np.testing.assert_allclose(np.asarray(gen.log_prob(params, seq, temperature=0.7)),
                             np.asarray(expected), rtol=1e-5)


def test_discriminator_is_causal_and_masked():
  disc = models.make_discriminator(23, 9, feature_size=8, trainable_embedding_size=4)
  params = disc.init(jax.random.key(0))
  a = jnp.array([[3, 4, 5, 6, 7, 8, 9, 10, 11]], jnp.int32)
  b = a.at[0, 6].set(12)
  la = np.asarray(disc.apply(params, None, a, False))
  lb = np.asarray(disc.apply(params, None, b, False))
  np.testing.assert_allclose(la[0, :6], lb[0, :6], rtol=1e-6)  # D(x_t | x_<=t)
  assert la[0, 6] != lb[0, 6]
  padded = jnp.array([[3, 4, 0, 6, 7, 8, 9, 10, 11]], jnp.int32)
  lp = np.asarray(disc.apply(params, None, padded, False))
  assert (lp[0, 3:] == 0).all() and (lp[0, :3] != 0).all()


def test_discriminator_dropout_only_when_training():
  disc = models.make_discriminator(23, 9, feature_size=8, trainable_embedding_size=4,
                                   dropout=0.5)
  params = disc.init(jax.random.key(0))
  x = jnp.array([[3, 4, 5, 6, 7, 8, 9, 10, 11]], jnp.int32)
  e1 = disc.apply(params, jax.random.key(1), x, False)
  e2 = disc.apply(params, jax.random.key(2), x, False)
  t1 = disc.apply(params, jax.random.key(1), x, True)
  t2 = disc.apply(params, jax.random.key(2), x, True)
  np.testing.assert_array_equal(np.asarray(e1), np.asarray(e2))
  assert not np.allclose(np.asarray(t1), np.asarray(t2))


def test_sampler_matches_log_prob_over_whole_sequences_with_eos():
  """Two layers with skip connections, EOS: the empirical frequency of every
  whole sequence matches exp(sum_t log p), and those probabilities sum to 1."""
  import itertools
  V, T, N = 4, 3, 40000
  gen = models.make_generator(V, T, feature_size=6, num_layers=2,
                              trainable_embedding_size=3, eos=True)
  params = gen.init(jax.random.key(7))
  params['generator']['out_bias'] = jnp.array([0.3, 0.6, -0.2, 0.1])
  seq, _ = gen.sample(params, jax.random.key(1), N)
  seq = np.asarray(seq)
  # Every sequence the model can emit: tokens, then PAD (0) forever after a PAD.
  support = []
  for toks in itertools.product(range(V), repeat=T):
    first = toks.index(0) if 0 in toks else T
    if all(t == 0 for t in toks[first:]):
      support.append(toks)
  lp = np.asarray(gen.log_prob(params, jnp.asarray(support, jnp.int32))).sum(1)
  p = np.exp(lp)
  np.testing.assert_allclose(p.sum(), 1.0, rtol=1e-4)
  counts = {s: 0 for s in support}
  for row in map(tuple, seq):
    counts[row] += 1  # a KeyError here: a sequence outside the support
  f = np.array([counts[s] for s in support]) / N
  tol = 4.5 * np.sqrt(p * (1 - p) / N) + 1e-3
  assert (np.abs(f - p) <= tol).all(), np.abs(f - p) / tol


def _slow_inverse_cdf(logits, u):
  """float64 reference: first index whose cumulative probability exceeds u."""
  p = np.exp(logits.astype(np.float64) - logits.max(-1, keepdims=True))
  cdf = np.cumsum(p, -1)
  cdf /= cdf[:, -1:]
  return np.array([np.searchsorted(c, x, side='right') for c, x in zip(cdf, u)]), cdf


@pytest.mark.parametrize('V,block', [(5000, 64), (37, 8), (5, 64), (128, 64), (1, 4)])
def test_blocked_draw_is_the_inverse_cdf(V, block):
  """Same token as a float64 cumsum over the whole vocabulary, except where u
  lies within rounding distance of a boundary."""
  rng = np.random.default_rng(V)
  B = 3000
  logits = (rng.normal(size=(B, V)) * rng.uniform(0.1, 6, size=(B, 1))).astype(np.float32)
  u = rng.uniform(size=B).astype(np.float32)
  u[:3] = [0.0, np.nextafter(np.float32(1), np.float32(0)), 0.5]
  got = np.asarray(models.inverse_cdf_draw(jnp.asarray(logits), jnp.asarray(u), block))
  want, cdf = _slow_inverse_cdf(logits, u.astype(np.float64))
  want = np.minimum(want, V - 1)
  assert got.dtype == np.int32 and ((got >= 0) & (got < V)).all()
  # Distance from u to the nearest boundary of the reference CDF.
  gap = np.min(np.abs(cdf - u[:, None].astype(np.float64)), axis=1)
  clear = gap > 1e-5
  assert clear.mean() > 0.9
  np.testing.assert_array_equal(got[clear], want[clear])
  # Where they differ, the draw is an immediate neighbour of the boundary.
  assert (np.abs(got - want) <= 1).all()


def test_blocked_draw_never_picks_a_zero_probability_token():
  """-inf logits (whole blocks of them, the first and the last tokens, the
  padding of the last block) are never drawn, also at u = 0, u -> 1 and u = 1."""
  V, block, B = 300, 16, 400
  rng = np.random.default_rng(0)
  logits = rng.normal(size=(B, V)).astype(np.float32)
  allowed = rng.uniform(size=(B, V)) < 0.05
  allowed[:, :block] = False          # first block empty
  allowed[:, -40:] = False            # the last blocks (and the padding) empty
  allowed[np.arange(B), rng.integers(block, V - 40, size=B)] = True
  logits = np.where(allowed, logits, -np.inf).astype(np.float32)
  # u = 1 is outside [0, 1): it reaches past the last cumulative mass.
  for u in (np.zeros(B), np.full(B, np.nextafter(np.float32(1), np.float32(0))),
            np.ones(B), rng.uniform(size=B)):
    got = np.asarray(models.inverse_cdf_draw(jnp.asarray(logits),
                                             jnp.asarray(u, jnp.float32), block))
    assert allowed[np.arange(B), got].all()
  # u = 0 gives the first allowed token, u -> 1 the last.
  first = np.asarray(models.inverse_cdf_draw(jnp.asarray(logits), jnp.zeros(B), block))
  np.testing.assert_array_equal(first, np.argmax(allowed, 1))


def test_take_token_has_the_values_and_gradient_bits_of_take_along_axis():
  rng = np.random.default_rng(1)
  lp = jnp.asarray(rng.normal(size=(4, 7, 33)), jnp.float32)
  tok = jnp.asarray(rng.integers(0, 33, size=(4, 7)), jnp.int32)
  w = jnp.asarray(rng.normal(size=(4, 7)), jnp.float32)

  def slow(lp):
    return jnp.take_along_axis(lp, tok[..., None], -1)[..., 0]

  def loss(pick, lp):  # through log_softmax, as in the generator's rescoring
    return (pick(jax.nn.log_softmax(lp * 1.7, -1)) * w).sum()

  np.testing.assert_array_equal(np.asarray(models.take_token(lp, tok)), np.asarray(slow(lp)))
  g_fast = jax.jit(jax.grad(lambda x: loss(lambda y: models.take_token(y, tok), x)))(lp)
  g_slow = jax.jit(jax.grad(lambda x: loss(slow, x)))(lp)
  np.testing.assert_array_equal(np.asarray(g_fast), np.asarray(g_slow))


def test_one_pass_over_stacked_keys_draws_what_each_key_draws_alone():
  """gan_update draws the discriminator's and the generator's batches in one
  pass; each key's rows must be that key's own draw, in order."""
  gen = _gen(2)
  params = gen.init(jax.random.key(0))
  keys = jax.random.split(jax.random.key(5), 3)
  both, length = gen.sample(params, keys, 16)
  assert both.shape == (48, 9) and length.shape == (48,)
  for i in range(3):
    alone, _ = gen.sample(params, keys[i], 16)
    np.testing.assert_array_equal(np.asarray(both[16 * i:16 * (i + 1)]), np.asarray(alone))
  assert not np.array_equal(np.asarray(both[:16]), np.asarray(both[16:32]))
  # A raw uint32 key (jax.random.PRNGKey) is the same key.
  raw, _ = gen.sample(params, jax.random.key_data(keys[0]), 16)
  np.testing.assert_array_equal(np.asarray(raw), np.asarray(both[:16]))


@pytest.mark.parametrize('num_layers', [1, 2])
def test_features_at_t_see_only_the_prefix_and_give_the_logits(num_layers):
  """`features` is what a critic of x_<t may read: changing x_t leaves step t's
  features as they are and changes step t+1's; projected to the vocabulary
  they are the teacher-forced logits."""
  gen = _gen(num_layers)
  params = gen.init(jax.random.key(0))
  seq = jnp.asarray(np.random.default_rng(0).integers(1, 23, (3, 9)), jnp.int32)
  other = seq.at[:, 4].set((seq[:, 4] % 22) + 1)
  f, g = np.asarray(gen.features(params, seq)), np.asarray(gen.features(params, other))
  assert f.shape == (3, 9, 12 * num_layers)
  np.testing.assert_array_equal(f[:, :5], g[:, :5])
  assert np.abs(f[:, 5] - g[:, 5]).min() > 0
  p = params['generator']
  out_proj = p['out_proj'] if num_layers > 1 else p['in_proj'].T
  logits = (f @ out_proj) @ p['trainable_embedding'].T + p['out_bias']
  np.testing.assert_allclose(logits, gen.logits(params, seq), rtol=1e-5, atol=1e-5)
