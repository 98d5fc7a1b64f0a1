"""The beyond-the-paper options of the generator update (all off by default):
their math against slow obvious loops, and their effect inside the update."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import tiny_config
from scratchgan_jax import data, experiment, losses, parallel, train


def _returns_and_mask(seed=0, B=5, T=7):
  rng = np.random.default_rng(seed)
  returns = rng.normal(size=(B, T)).astype(np.float32)
  lengths = np.array([7, 3, 1, 5, 3])[:B]
  mask = (np.arange(T)[None, :] < lengths[:, None]).astype(np.float32)
  return returns, mask


def test_position_baseline_is_a_moving_average_of_each_steps_running_mean():
  returns, mask = _returns_and_mask()
  B, T = returns.shape
  old = np.linspace(-1, 1, T).astype(np.float32)
  got = np.asarray(losses.update_position_baseline(
      jnp.asarray(old), *losses.position_totals(returns, mask), 0.3))
  for t in range(T):
    alive = [returns[i, t] for i in range(B) if mask[i, t]]
    want = 0.3 * old[t] + 0.7 * np.mean(alive) if alive else old[t]
    np.testing.assert_allclose(got[t], want, rtol=1e-5, atol=1e-6)
  mask[:, -1] = 0  # no sample runs at the last step: its baseline is kept
  got = np.asarray(losses.update_position_baseline(
      jnp.asarray(old), *losses.position_totals(returns, mask), 0.3))
  assert got[-1] == old[-1]


def test_leave_one_out_baseline_is_the_mean_of_the_other_running_samples():
  returns, mask = _returns_and_mask(1)
  B, T = returns.shape
  loo = lambda r: np.asarray(losses.leave_one_out_baseline(
      r, mask, *losses.position_totals(r, mask)))
  got = loo(returns)
  for i in range(B):
    for t in range(T):
      others = [returns[j, t] for j in range(B) if j != i and mask[j, t]]
      if mask[i, t] and others:
        np.testing.assert_allclose(got[i, t], np.mean(others), rtol=1e-5, atol=1e-6)
      elif mask[i, t]:
        assert got[i, t] == 0.0  # alone at this step: nothing to compare with
  # Its value for a sample does not depend on that sample's own return.
  bumped = returns.copy()
  bumped[0, 0] += 10.0
  np.testing.assert_allclose(loo(bumped)[0], got[0], rtol=1e-6)


def test_prefix_value_is_the_return_of_the_prefix_reward_held_to_the_end():
  rewards, _ = _returns_and_mask(5)
  B, T = rewards.shape
  gamma = 0.6
  got = np.asarray(losses.prefix_value(jnp.asarray(rewards), gamma))
  for i in range(B):
    assert got[i, 0] == 0.0
    for t in range(1, T):
      want = sum(gamma ** k * rewards[i, t - 1] for k in range(T - t))
      np.testing.assert_allclose(got[i, t], want, rtol=1e-5, atol=1e-6)
  # It reads the prefix only: the reward of step t moves v at t + 1, not at t.
  bumped = rewards.copy()
  bumped[:, 3] += 1.0
  diff = np.asarray(losses.prefix_value(jnp.asarray(bumped), gamma)) - got
  assert not diff[:, :4].any() and diff[:, 4].all() and not diff[:, 5:].any()


def test_normalized_advantages_have_unit_std_over_valid_tokens_and_keep_sign():
  adv, mask = _returns_and_mask(2)
  adv = 0.01 * adv + 0.003  # a discriminator that wins: tiny, shifted signal
  got = adv * float(losses.advantage_scale(losses.advantage_moments(adv, mask)))
  valid = got[mask > 0]
  np.testing.assert_allclose(valid.std(), 1.0, rtol=1e-4)
  np.testing.assert_array_equal(np.sign(got), np.sign(adv))
  np.testing.assert_allclose(got / adv, (got / adv)[0, 0], rtol=1e-4)  # one scale


def test_clipped_surrogate_matches_a_token_loop_and_reinforce_at_ratio_one():
  adv, mask = _returns_and_mask(3)
  rng = np.random.default_rng(4)
  old = -rng.uniform(0.5, 3.0, size=adv.shape).astype(np.float32) * mask
  lp = old + rng.normal(scale=0.3, size=adv.shape).astype(np.float32) * mask
  B, T = adv.shape
  loss, n_clip = losses.clipped_surrogate_loss(lp, old, adv, mask, 0.2, 'sum')
  want, want_clip = 0.0, 0
  for i in range(B):
    for t in range(T):
      if not mask[i, t]:
        continue
      rho = np.exp(float(lp[i, t]) - float(old[i, t]))
      want -= min(rho * adv[i, t], min(max(rho, 0.8), 1.2) * adv[i, t])
      want_clip += abs(rho - 1) > 0.2
  np.testing.assert_allclose(float(loss), want / B, rtol=1e-5)
  assert int(n_clip) == want_clip > 0
  # At the policy that drew the batch the gradient is REINFORCE's.
  g_ppo = jax.grad(lambda x: losses.clipped_surrogate_loss(x, old, adv, mask, 0.2)[0])(
      jnp.asarray(old))
  g_pg = jax.grad(lambda x: losses.reinforce_loss(x, adv * mask, 0.0))(jnp.asarray(old))
  np.testing.assert_allclose(np.asarray(g_ppo), np.asarray(g_pg), rtol=1e-6, atol=1e-7)
  # Past the clip in the advantage's direction a token gives no gradient.
  far = jnp.asarray(old + np.where(adv > 0, 0.5, -0.5) * mask)
  g_far = jax.grad(lambda x: losses.clipped_surrogate_loss(x, old, adv, mask, 0.2)[0])(far)
  assert not np.asarray(g_far).any()


def _step(cfg, n=1):
  run = experiment.prepare(cfg)
  s0 = train.init_state(run.setup, cfg.seed)
  state = parallel.replicate(s0, run.mesh)
  update = train.compile_update(run.setup, run.mesh, donate=False)
  for step in range(n):
    b = data.get_batch(run.dataset.train, run.dataset.train_length, step=step,
                       batch_size=cfg.batch_size, seed=0, shuffle=True)
    state, metrics = update(state, parallel.shard_batch(b, run.mesh))
  return parallel.to_host(s0), parallel.to_host(state), metrics


def _changed(a, b):
  return any(not np.array_equal(x, y) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))


def test_disc_skip_freezes_the_discriminator_only_when_it_already_wins(tiny_corpus):
  """Skipped exactly when D(real) - D(fake), measured before the update,
  exceeds the margin; a skipped step moves neither its parameters nor Adam's
  state, and the generator trains either way."""
  seen = set()
  for margin in (1e-4, 0.999):
    cfg = tiny_config(*tiny_corpus, disc_skip_margin=margin, disc_lr=5e-2)
    run = experiment.prepare(cfg)
    state = parallel.replicate(train.init_state(run.setup, 0), run.mesh)
    update = train.compile_update(run.setup, run.mesh, donate=False)
    for step in range(4):
      before = parallel.to_host(state)
      b = data.get_batch(run.dataset.train, run.dataset.train_length, step=step,
                         batch_size=cfg.batch_size, seed=0, shuffle=True)
      state, m = update(state, parallel.shard_batch(b, run.mesh))
      after = parallel.to_host(state)
      skipped = float(m['disc_prob_real']) - float(m['disc_prob_fake']) > margin
      assert float(m['disc_skipped']) == float(skipped)
      assert _changed(before.disc_params, after.disc_params) != skipped
      assert _changed(before.disc_opt_state, after.disc_opt_state) != skipped
      assert _changed(before.gen_params, after.gen_params)
      seen.add(skipped)
  assert seen == {True, False}  # both branches ran


def test_one_update_per_batch_is_the_papers_step_and_more_updates_move_further(tiny_corpus):
  base = tiny_config(*tiny_corpus)
  s0, paper, _ = _step(base)
  _, two, m = _step(base.replace(gen_updates_per_batch=2))
  # The discriminator's update does not see the generator's extra updates.
  for x, y in zip(jax.tree.leaves(paper.disc_params), jax.tree.leaves(two.disc_params)):
    np.testing.assert_array_equal(x, y)
  d1 = sum(float(np.abs(x - y).sum()) for x, y in
           zip(jax.tree.leaves(s0.gen_params), jax.tree.leaves(paper.gen_params)))
  d2 = sum(float(np.abs(x - y).sum()) for x, y in
           zip(jax.tree.leaves(s0.gen_params), jax.tree.leaves(two.gen_params)))
  assert d2 > 1.5 * d1
  assert 0.0 <= float(m['ppo_clip_frac']) <= 1.0


@pytest.mark.parametrize('options', [
    dict(baseline_type='position', gen_updates_per_batch=2, entropy_bonus=0.05),
    dict(baseline_type='loo', normalize_advantages=True),
    dict(baseline_type='prefix', reward_type='log', mle_weight=0.5, reward_candidates=3)])
def test_options_are_independent_of_the_chunk_count(tiny_corpus, options):
  """The batch sums behind the new baselines and the normalisation go
  through per-chunk programs and fixed-order chunk sums: 1 and 4 chunks agree
  (the device-count tests in test_parallel hold them to the bit). Options that
  can be combined are, three programs instead of six (each compiles twice)."""
  base = tiny_config(*tiny_corpus, batch_size=8, **options)
  _, one, m1 = _step(base.replace(grad_chunks=1), n=2)
  _, four, m4 = _step(base.replace(grad_chunks=4), n=2)
  for a, b in zip(jax.tree.leaves(one), jax.tree.leaves(four)):
    np.testing.assert_allclose(a, b, rtol=3e-4, atol=2e-5)
  if options.get('baseline_type') in ('position', 'prefix'):
    assert one.baseline.shape == (base.max_length,)


def test_options_are_rejected_for_mle_and_out_of_range(tiny_corpus):
  from scratchgan_jax.config import ConfigError
  with pytest.raises(ConfigError, match='objective=gan only'):
    tiny_config(*tiny_corpus, objective='mle', baseline_type='loo')
  with pytest.raises(ConfigError, match='ppo_clip'):
    tiny_config(*tiny_corpus, ppo_clip=1.5)
  with pytest.raises(ConfigError, match='disc_skip_margin'):
    tiny_config(*tiny_corpus, disc_skip_margin=-0.1)
  with pytest.raises(ConfigError, match='objective=gan only'):
    tiny_config(*tiny_corpus, objective='mle', entropy_bonus=0.01)
  with pytest.raises(ConfigError, match='entropy_bonus'):
    tiny_config(*tiny_corpus, entropy_bonus=-0.01)
  with pytest.raises(ConfigError, match='objective=gan only'):
    tiny_config(*tiny_corpus, objective='mle', reward_type='log')
  with pytest.raises(ConfigError, match='reward_type'):
    tiny_config(*tiny_corpus, reward_type='sqrt')
  for bad in (1.0, -0.1):
    with pytest.raises(ConfigError, match='gen_ema'):
      tiny_config(*tiny_corpus, gen_ema=bad)
  with pytest.raises(ConfigError, match='objective=gan only'):
    tiny_config(*tiny_corpus, objective='mle', mle_weight=0.1)
  with pytest.raises(ConfigError, match='mle_weight must be >= 0'):
    tiny_config(*tiny_corpus, mle_weight=-0.1)


def test_hybrid_mle_term_is_the_real_batchs_nll_reduced_like_reinforce():
  rng = np.random.default_rng(0)
  lp = -rng.random((4, 6)) * np.array([[1] * 6, [1] * 3 + [0] * 3, [1] * 6, [1] + [0] * 5])
  want = 0.3 * sum(-lp[i, t] for i in range(4) for t in range(6)) / 4
  got = losses.hybrid_mle_loss(jnp.asarray(lp), 0.3, 'sum')
  np.testing.assert_allclose(float(got), want, rtol=1e-6)
  want_mean = 0.3 * sum(-lp[i, t] for i in range(4) for t in range(6)) / 24
  np.testing.assert_allclose(float(losses.hybrid_mle_loss(jnp.asarray(lp), 0.3, 'mean')),
                             want_mean, rtol=1e-6)
  # A chunk divides by the whole batch, as REINFORCE's does.
  np.testing.assert_allclose(float(losses.hybrid_mle_loss(jnp.asarray(lp[:2]), 0.3, 'sum',
                                                          batch_size=4)),
                             0.3 * -lp[:2].sum() / 4, rtol=1e-6)


def test_an_overwhelming_mle_weight_makes_the_generators_step_the_mle_step(tiny_corpus):
  """The hybrid's MLE term is taken on the step's real batch: with a weight
  that drowns the REINFORCE term, the generator's first Adam step (about
  -lr * sign(gradient)) is the MLE objective's step on the same batch with
  the same optimiser, and the logged real-batch NLL is MLE's training NLL."""
  base = tiny_config(*tiny_corpus, l2_gen=0.0, gen_lr=1e-3, gen_beta1=0.5)
  s0, plain, m_plain = _step(base)
  _, hybrid, m = _step(base.replace(mle_weight=1e5))
  _, mle, m_mle = _step(base.replace(objective='mle'))
  np.testing.assert_allclose(float(m['real_nll']), float(m_mle['train_nll']), rtol=1e-5)
  for x, y in zip(jax.tree.leaves(plain.disc_params), jax.tree.leaves(hybrid.disc_params)):
    np.testing.assert_array_equal(x, y)  # the discriminator's update comes first
  agree = total = 0
  for a, h, ml in zip(jax.tree.leaves(s0.gen_params), jax.tree.leaves(hybrid.gen_params),
                      jax.tree.leaves(mle.gen_params)):
    moved = np.abs(ml - a) > 1e-4  # the entries that MLE's gradient reaches
    agree += (np.sign(h - a)[moved] == np.sign(ml - a)[moved]).sum()
    total += moved.sum()
  assert total > 1000 and agree / total > 0.99, (agree, total)
  assert 'real_nll' not in m_plain


def test_step_entropy_is_minus_sum_p_log_p_of_each_step_and_zero_past_pad(tiny_corpus):
  cfg = tiny_config(*tiny_corpus)
  run = experiment.prepare(cfg)
  params = train.init_state(run.setup, 0).gen_params
  gen = run.setup.gen
  seq, _ = gen.sample(params, jax.random.key(3), 6)
  seq = np.array(seq)
  seq[0, 2:] = 0  # a short row: PAD from position 2 on
  lp, ent = map(np.asarray, gen.log_prob_entropy(params, jnp.asarray(seq)))
  logits = np.asarray(gen.logits(params, jnp.asarray(seq)), np.float64)
  np.testing.assert_allclose(lp, np.asarray(gen.log_prob(params, jnp.asarray(seq))),
                             rtol=1e-6, atol=1e-6)
  B, T = seq.shape
  for i in range(B):
    ended = False
    for t in range(T):
      if ended:
        assert ent[i, t] == 0.0 and lp[i, t] == 0.0
        continue
      p = np.exp(logits[i, t] - logits[i, t].max())
      p /= p.sum()
      np.testing.assert_allclose(ent[i, t], -(p * np.log(p)).sum(), rtol=1e-4)
      ended = seq[i, t] == 0  # the first PAD itself is scored, as in log_prob


def test_entropy_bonus_raises_the_generators_entropy(tiny_corpus):
  """One update with a large bonus leaves the generator's per-step
  distributions more spread out than the paper's update from the same state."""
  def entropy_after(bonus):
    cfg = tiny_config(*tiny_corpus, entropy_bonus=bonus, gen_lr=3e-2)
    _, state, m = _step(cfg, n=3)
    run = experiment.prepare(cfg)
    params = jax.tree.map(jnp.asarray, state.gen_params)
    seq, _ = run.setup.gen.sample(params, jax.random.key(5), 32)
    _, ent = run.setup.gen.log_prob_entropy(params, seq)
    mask = np.asarray(ent) > 0
    return float(np.asarray(ent)[mask].mean()), m
  base, m0 = entropy_after(0.0)
  high, m1 = entropy_after(5.0)
  assert high > base + 1e-3
  assert 'gen_entropy' not in m0 and float(m1['gen_entropy']) > 0


def test_generator_average_leaves_training_alone_and_is_what_is_evaluated(tiny_corpus,
                                                                          tmp_path):
  """--gen_ema: every checkpoint's average is decay * the previous one + (1 - decay)
  * the new parameters; the trained networks are bit for bit those of a run
  without it; evaluation and load_generator use the average; a resumed run ends
  with the same average."""
  import os
  from scratchgan_jax import checkpoint
  def flat(wd, step):
    with np.load(checkpoint.path_for(os.path.join(wd, 'checkpoints'), step)) as z:
      return {k: z[k] for k in z.files if k != '__meta__'}
  base = tiny_config(*tiny_corpus, num_steps=3, checkpoint_every=1, eval_every=3,
                     keep_checkpoints=5)
  plain, avg, resumed = (str(tmp_path / n) for n in ('plain', 'avg', 'resumed'))
  experiment.train(base, plain)
  cfg = base.replace(gen_ema=0.75)
  experiment.train(cfg, avg)
  a, b = flat(plain, 3), flat(avg, 3)
  ema_keys = [k for k in b if k.startswith('.gen_ema')]
  assert ema_keys and set(b) - set(ema_keys) == set(a)
  for k in a:
    np.testing.assert_array_equal(a[k], b[k], err_msg=k)
  for step in (2, 3):
    prev, cur = flat(avg, step - 1), flat(avg, step)
    for k in ema_keys:
      want = 0.75 * prev[k] + 0.25 * cur[k.replace('.gen_ema', '.gen_params', 1)]
      np.testing.assert_allclose(cur[k], want, rtol=1e-6, atol=1e-7, err_msg=k)
  moved = sum(float(np.abs(b[k] - b[k.replace('.gen_ema', '.gen_params', 1)]).sum())
              for k in ema_keys)
  assert moved > 0  # the average lags the parameters
  _, params, _ = experiment.load_generator(avg, checkpoint.path_for(
      os.path.join(avg, 'checkpoints'), 3))
  for path, leaf in jax.tree_util.tree_flatten_with_path(jax.device_get(params))[0]:
    np.testing.assert_array_equal(leaf, b['.gen_ema' + jax.tree_util.keystr(path)])
  last = lambda wd: [r for r in experiment.writers.MetricWriter(wd).read()
                     if r.get('eval') and r['step'] == 3][0]['valid_nll']
  assert last(avg) != last(plain)  # the average is what was evaluated
  experiment.train(cfg.replace(num_steps=2), resumed)
  experiment.train(cfg, resumed)
  c = flat(resumed, 3)
  for k in b:
    np.testing.assert_array_equal(b[k], c[k], err_msg=k)


def test_generator_average_switched_on_and_off_when_resuming(tiny_corpus, tmp_path):
  """--gen_ema turned on when resuming a run without it: the average starts at the
  restored generator (then follows the recursion), training is that of the run
  without it, and model selection starts again; turned off again, the average is
  dropped. Checkpoints of either kind load with what they hold."""
  import os
  from scratchgan_jax import checkpoint
  wd, plain = str(tmp_path / 'run'), str(tmp_path / 'plain')
  ckpts = os.path.join(wd, 'checkpoints')
  def flat(d, step):
    with np.load(checkpoint.path_for(os.path.join(d, 'checkpoints'), step)) as z:
      return {k: z[k] for k in z.files if k != '__meta__'}
  best_step = lambda step: checkpoint.read_meta(checkpoint.path_for(ckpts, step))['best']['step']
  base = tiny_config(*tiny_corpus, num_steps=2, checkpoint_every=1, eval_every=1,
                     keep_checkpoints=10)
  experiment.train(base.replace(num_steps=5), plain)
  experiment.train(base, wd)
  assert best_step(2) in (1, 2)
  with pytest.raises(experiment.ConfigError, match='different config'):
    experiment.train(base.replace(num_steps=3, gen_lr=0.5), wd)
  # On from step 2; the next evaluation is step 4's (the last).
  experiment.train(base.replace(num_steps=4, eval_every=4, gen_ema=0.75), wd)
  two, three = flat(wd, 2), flat(wd, 3)
  assert not any(k.startswith('.gen_ema') for k in two)
  ema_keys = [k for k in three if k.startswith('.gen_ema')]
  assert ema_keys
  for k in ema_keys:
    g = k.replace('.gen_ema', '.gen_params', 1)
    np.testing.assert_allclose(three[k], 0.75 * two[g] + 0.25 * three[g],
                               rtol=1e-6, atol=1e-7, err_msg=k)
  for step in (3, 4):
    want, got = flat(plain, step), flat(wd, step)
    for k in want:
      np.testing.assert_array_equal(want[k], got[k], err_msg=k)
  assert best_step(3) is None  # selection restarted: no evaluation of the average yet
  assert best_step(4) == 4
  _, p2, _ = experiment.load_generator(wd, checkpoint.path_for(ckpts, 2))
  _, p3, _ = experiment.load_generator(wd, checkpoint.path_for(ckpts, 3))
  for path, leaf in jax.tree_util.tree_flatten_with_path(jax.device_get(p2))[0]:
    np.testing.assert_array_equal(leaf, two['.gen_params' + jax.tree_util.keystr(path)])
  for path, leaf in jax.tree_util.tree_flatten_with_path(jax.device_get(p3))[0]:
    np.testing.assert_array_equal(leaf, three['.gen_ema' + jax.tree_util.keystr(path)])
  experiment.train(base.replace(num_steps=5), wd)  # off again
  want, five = flat(plain, 5), flat(wd, 5)
  assert set(five) == set(want)
  for k in want:
    np.testing.assert_array_equal(want[k], five[k], err_msg=k)
  assert best_step(5) == 5


def test_gen_lr_schedule_is_flat_then_falls_to_the_final_fraction(tiny_corpus):
  """--gen_lr_decay: 1 until start * num_steps, then linear or half-cosine to
  gen_lr_final at num_steps (against the formula written out); none: None."""
  import math
  cfg = tiny_config(*tiny_corpus, num_steps=100, gen_lr_decay_start=0.4, gen_lr_final=0.2)
  assert train.gen_lr_scale(cfg, 50) is None
  for kind, shape in (('linear', lambda f: 1 - f),
                      ('cosine', lambda f: 0.5 * (1 + math.cos(math.pi * f)))):
    c = cfg.replace(gen_lr_decay=kind)
    for step in (0, 39, 40, 55, 70, 99, 100, 130):
      f = min(max((step - 40) / 60, 0.0), 1.0)
      np.testing.assert_allclose(float(train.gen_lr_scale(c, step)),
                                 0.2 + 0.8 * shape(f), rtol=1e-6, atol=1e-7)
  from scratchgan_jax.config import ConfigError
  with pytest.raises(ConfigError, match='gen_lr_final'):
    tiny_config(*tiny_corpus, gen_lr_final=1.5)
  with pytest.raises(ConfigError, match='gen_lr_decay_start'):
    tiny_config(*tiny_corpus, gen_lr_decay_start=1.0)


def test_gen_lr_decay_is_the_generators_learning_rate_of_each_step(tiny_corpus):
  """Two steps under a linear decay from step 0 to 0.5 at num_steps = 2 (scales
  1 and 0.75) equal a step at gen_lr then a step at 0.75 gen_lr from the same
  state: the scale reaches the generator's step of the right update and
  nothing else (the discriminator, Adam's moments)."""
  base = tiny_config(*tiny_corpus, num_steps=2, gen_lr_decay_start=0.0, gen_lr_final=0.5)
  _, decayed, m = _step(base.replace(gen_lr_decay='linear'), n=2)
  assert float(m['gen_lr_scale']) == pytest.approx(0.75)
  _, first, _ = _step(base, n=1)
  _, plain2, _ = _step(base, n=2)
  run = experiment.prepare(base.replace(gen_lr=0.75 * base.gen_lr))
  update = train.compile_update(run.setup, run.mesh, donate=False)
  b = data.get_batch(run.dataset.train, run.dataset.train_length, step=1,
                     batch_size=base.batch_size, seed=0, shuffle=True)
  want, _ = update(parallel.replicate(first, run.mesh), parallel.shard_batch(b, run.mesh))
  want = parallel.to_host(want)
  for x, y in zip(jax.tree.leaves(decayed), jax.tree.leaves(want)):
    np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-7)
  assert _changed(decayed.gen_params, plain2.gen_params)  # the scale did act
  for x, y in zip(jax.tree.leaves(decayed.disc_params), jax.tree.leaves(plain2.disc_params)):
    np.testing.assert_array_equal(x, y)


def test_batch_schedule_tiles_the_stream_with_early_and_late_batches():
  """--early_batch_size: batch k starts where batch k - 1 ended, whatever the
  sizes, so the data stream is read in order with nothing skipped or repeated."""
  pos = 0
  for step in range(9):
    size, start = data.batch_schedule(step, 8, 3, 4)
    assert size == (3 if step < 4 else 8) and start == pos
    pos += size
  assert data.batch_schedule(5, 8) == (8, 40)  # no early phase: k * B
  def indices(step):
    size, start = data.batch_schedule(step, 8, 3, 4)
    return data.batch_indices(11, size, step, seed=2, shuffle=True, start=start)
  got = np.concatenate([indices(s) for s in range(6)])
  np.testing.assert_array_equal(got, data.batch_indices(11, len(got), 0, seed=2,
                                                        shuffle=True))


def test_early_batch_size_trains_its_steps_then_the_full_batch(tiny_corpus, tmp_path):
  """The first early_batch_steps steps are bit for bit those of a run at the
  small batch; later steps use the full batch; a run stopped and resumed inside
  the early phase ends with the same bits as an uninterrupted one."""
  import os
  from scratchgan_jax import checkpoint
  def flat(wd, step):
    with np.load(checkpoint.path_for(os.path.join(wd, 'checkpoints'), step)) as z:
      return {k: z[k] for k in z.files if k != '__meta__'}
  base = tiny_config(*tiny_corpus, num_steps=4, checkpoint_every=1, eval_every=2,
                     keep_checkpoints=10)
  small, full, ramp, resumed = (str(tmp_path / n) for n in ('small', 'full', 'ramp',
                                                             'resumed'))
  experiment.train(base.replace(batch_size=4), small)
  experiment.train(base, full)
  cfg = base.replace(early_batch_size=4, early_batch_steps=2)
  experiment.train(cfg, ramp)
  for step in (1, 2):
    want, got = flat(small, step), flat(ramp, step)
    for k in want:
      np.testing.assert_array_equal(want[k], got[k], err_msg=f'{k} at step {step}')
  for other in (small, full):  # step 3 is neither run's: the full batch, from step 2
    assert any(not np.array_equal(v, flat(other, 3)[k]) for k, v in flat(ramp, 3).items())
  for stop in (1, 3):  # resumed inside the early phase, and after it
    wd = f'{resumed}_{stop}'
    experiment.train(cfg.replace(num_steps=stop), wd)
    experiment.train(cfg, wd)
    want, got = flat(ramp, 4), flat(wd, 4)
    for k in want:
      np.testing.assert_array_equal(want[k], got[k], err_msg=f'{k}, resumed at {stop}')
  with pytest.raises(experiment.ConfigError, match='different config'):
    experiment.train(base, ramp)  # not a resumable change: the data order depends on it


def test_early_batch_size_needs_its_steps_and_a_valid_size(tiny_corpus):
  from scratchgan_jax.config import ConfigError
  with pytest.raises(ConfigError, match='set both'):
    tiny_config(*tiny_corpus, early_batch_size=4)
  with pytest.raises(ConfigError, match='set both'):
    tiny_config(*tiny_corpus, early_batch_steps=4)
  with pytest.raises(ConfigError, match='>= 0'):
    tiny_config(*tiny_corpus, early_batch_size=-4, early_batch_steps=2)
  with pytest.raises(ConfigError, match='early_batch_size=6 is not divisible'):
    tiny_config(*tiny_corpus, grad_chunks=4, early_batch_size=6, early_batch_steps=2)


def test_discriminator_scores_each_candidate_as_if_it_stood_at_its_step():
  """The candidates' logits from one pass equal the logits of the sequences
  with x_t replaced by each candidate (at step t), for a 2-layer stack with
  layer norm and the same dropout mask; 0 at masked steps."""
  from scratchgan_jax import models
  V, T, k = 11, 6, 4
  disc = models.make_discriminator(V, T, feature_size=8, num_layers=2,
                                   trainable_embedding_size=5, dropout=0.3)
  params = disc.init(jax.random.PRNGKey(0))
  rng = np.random.default_rng(0)
  seq = rng.integers(1, V, size=(3, T)).astype(np.int32)
  seq[1, 3:] = 0  # ends at step 3 (its first PAD is scored, the rest masked)
  cand = rng.integers(0, V, size=(3, T, k)).astype(np.int32)
  key = jax.random.PRNGKey(7)
  logits, got = disc.apply(params, key, jnp.asarray(seq), True, jnp.asarray(cand))
  np.testing.assert_allclose(logits, disc.apply(params, key, jnp.asarray(seq), True),
                             rtol=1e-5, atol=1e-6)
  got = np.asarray(got)
  mask = np.asarray(models.sequence_mask(jnp.asarray(seq)))
  for b in range(3):
    for t in range(T):
      for j in range(k):
        if not mask[b, t]:
          assert got[b, t, j] == 0.0
          continue
        alt = seq[b].copy()
        alt[t] = cand[b, t, j]
        want = disc.apply(params, key, jnp.asarray(alt[None]), True)[0, t]
        np.testing.assert_allclose(got[b, t, j], want, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize('k', [1, 2, 3])
def test_candidate_policy_gradient_is_unbiased_by_enumeration(k):
  """On a two-step tabular policy over three tokens, the estimator's gradient
  averaged over every sequence (weighted by its probability) is REINFORCE's
  expected gradient, sum_t E[grad log p(x_t) R_t], for any candidate-set size
  and any baseline of the prefix; with every token a candidate, gamma = 0
  and no baseline, each sequence's gradient of the first step is already
  the exact one."""
  V, T = 3, 2
  rng = np.random.default_rng(k)
  theta = {'t0': jnp.asarray(rng.normal(size=V), jnp.float32),
           't1': jnp.asarray(rng.normal(size=(V, V)), jnp.float32)}
  r0 = rng.normal(size=V).astype(np.float32)
  r1 = rng.normal(size=(V, V)).astype(np.float32)
  seqs = [(a, b) for a in range(V) for b in range(V)]

  def logps(th, a):  # [1, T, V]: log p(. | x_<t)
    return jnp.stack([jax.nn.log_softmax(th['t0']), jax.nn.log_softmax(th['t1'][a])])[None]

  def token_lp(th, a, b):
    return jnp.take_along_axis(logps(th, a), jnp.asarray([[[a], [b]]]), -1)[..., 0]

  def reinforce(th, a, b, gamma):
    returns = jnp.asarray([[r0[a] + gamma * r1[a, b], r1[a, b]]])
    return losses.reinforce_loss(token_lp(th, a, b), returns, 0.0)

  def estimator(th, a, b, gamma, baselines):
    lp_all = logps(th, a)
    cand = jax.lax.top_k(jax.lax.stop_gradient(lp_all), k)[1]
    cand_r = jnp.stack([jnp.asarray(r0)[cand[0, 0]], jnp.asarray(r1[a])[cand[0, 1]]])[None]
    future = jnp.asarray([[gamma * r1[a, b] - baselines[0], -baselines[1] * (a + 1)]])
    loss, _ = losses.candidate_policy_loss(
        lp_all, token_lp(th, a, b), jnp.asarray([[a, b]]), jnp.ones((1, T)), future,
        jnp.asarray([[r0[a], r1[a, b]]]), cand, cand_r)
    return loss

  prob = [float(jnp.exp(token_lp(theta, a, b).sum())) for a, b in seqs]
  expect = lambda grads: jax.tree.map(lambda *g: sum(w * x for w, x in zip(prob, g)), *grads)
  for gamma, baselines in ((0.7, (0.4, 0.1)), (0.0, (0.0, 0.3))):
    want = expect([jax.grad(reinforce)(theta, a, b, gamma) for a, b in seqs])
    grads = [jax.grad(estimator)(theta, a, b, gamma, baselines) for a, b in seqs]
    got = expect(grads)
    for name in theta:
      np.testing.assert_allclose(got[name], want[name], rtol=1e-4, atol=1e-5)
  if k == V:
    for a, b in seqs:
      g = jax.grad(estimator)(theta, a, b, 0.0, (0.0, 0.0))
      np.testing.assert_allclose(g['t0'], want['t0'], rtol=1e-4, atol=1e-5)
    # every sampled token is then a candidate: nothing is left to sampling
    a, b = seqs[4]
    _, in_set = losses.candidate_policy_loss(
        logps(theta, a), token_lp(theta, a, b), jnp.asarray([[a, b]]), jnp.ones((1, T)),
        jnp.zeros((1, T)), jnp.zeros((1, T)),
        jnp.broadcast_to(jnp.arange(V), (1, T, V)), jnp.zeros((1, T, V)))
    assert bool(in_set.all())


def test_reward_candidates_train_and_report_their_share(tiny_corpus):
  cfg = tiny_config(*tiny_corpus, reward_candidates=3, baseline_type='prefix')
  s0, s1, m = _step(cfg, n=2)
  assert _changed(s0.gen_params, s1.gen_params)
  assert 0.0 < float(m['candidate_share']) <= 1.0
  assert np.isfinite(float(m['gen_loss']))
  from scratchgan_jax.config import ConfigError
  with pytest.raises(ConfigError, match='objective=gan only'):
    tiny_config(*tiny_corpus, objective='mle', reward_candidates=2)
  with pytest.raises(ConfigError, match='reward_candidates'):
    tiny_config(*tiny_corpus, reward_candidates=-1)
  with pytest.raises(ConfigError, match='does not combine'):
    tiny_config(*tiny_corpus, reward_candidates=2, gen_updates_per_batch=2)
