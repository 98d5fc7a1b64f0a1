"""Train state, optimisers and the compiled update step (the host loop that
drives it is `experiment.py`; how a batch is split over devices and gradient
chunks is `parallel.py`).

    state = init_state(setup, rng)
    update = compile_update(setup, mesh)       # jit, batch sharded on `data`
    state, metrics = update(state, batch)

`update(state, batch) -> (state, metrics)` is one pure function holding the
discriminator update(s) then the generator update(s) of one ScratchGAN step
(or one teacher-forcing step for `objective=mle`). All randomness comes from
`fold_in(state.rng, state.step)`, so a run is a function of its seed.
"""
from __future__ import annotations

import dataclasses
import functools
from typing import Any, NamedTuple

from absl import logging
import jax
import jax.numpy as jnp
import numpy as np
import optax

from scratchgan_jax import data as data_lib
from scratchgan_jax import losses
from scratchgan_jax import models
from scratchgan_jax import oracle as oracle_lib
from scratchgan_jax import parallel
from scratchgan_jax.config import Config


class TrainingError(RuntimeError):
  """The run cannot go on (non-finite loss, mismatched workdir...)."""


class TrainState(NamedTuple):
  step: jax.Array  # int32 scalar
  rng: jax.Array  # uint32 key data
  gen_params: Any
  disc_params: Any
  gen_opt_state: Any
  disc_opt_state: Any
  baseline: jax.Array  # float32 moving average of the returns: () or [T]
  # The moving average of gen_params (`--gen_ema`), else None (no leaves).
  gen_ema: Any = None

  @property
  def eval_params(self):
    """The generator that is evaluated, selected and sampled: the moving
    average where the run keeps one, else the trained parameters."""
    return self.gen_params if self.gen_ema is None else self.gen_ema


@dataclasses.dataclass(frozen=True)
class Setup:
  """Everything the update step needs besides the state: built once per run."""
  cfg: Config
  vocab_size: int
  max_length: int
  eos: bool
  gen: models.GeneratorFns
  disc: models.DiscriminatorFns
  gen_opt: optax.GradientTransformation
  disc_opt: optax.GradientTransformation
  # Gradient chunks per step; 0 until `resolve_chunks` picks them for a mesh.
  grad_chunks: int = 0
  embedding_dim: int = 0  # pretrained + trainable embedding width
  # The synthetic oracle's parameters, for `--reward_source=oracle_*` only.
  oracle: Any = None


def _labels(params, train_pretrained: bool):
  return jax.tree_util.tree_map_with_path(
      lambda p, _: 'frozen' if models.is_frozen(p, train_pretrained) else 'train',
      params)


def _trainable(params, train_pretrained: bool):
  """Params without the frozen pretrained embedding (for L2)."""
  flat = jax.tree_util.tree_flatten_with_path(params)[0]
  return [v for p, v in flat if not models.is_frozen(p, train_pretrained)]


def make_optimizer(lr: float, beta1: float, train_pretrained: bool):
  """Adam (beta2 0.999, eps 1e-8 as TF) on trainable params; frozen ones untouched."""
  return optax.multi_transform(
      {'train': optax.adam(lr, b1=beta1, b2=0.999, eps=1e-8),
       'frozen': optax.set_to_zero()},
      functools.partial(_labels, train_pretrained=train_pretrained))


def make_setup(cfg: Config, vocab_size: int, pretrained: np.ndarray | None = None,
               eos: bool | None = None, oracle_params: dict | None = None) -> Setup:
  """`oracle_params` are kept only where `cfg.reward_source` rewards with them."""
  eos = (not cfg.is_oracle) if eos is None else eos
  compute_dtype = jnp.dtype(cfg.compute_dtype)
  T = cfg.sequence_length
  gen = models.make_generator(
      vocab_size, T, feature_size=cfg.gen_feature_size,
      num_layers=cfg.num_layers_gen,
      trainable_embedding_size=cfg.trainable_embedding_size,
      pretrained=pretrained, train_pretrained=cfg.train_pretrained_embedding,
      embedding_dropout=cfg.gen_embedding_dropout, eos=eos,
      compute_dtype=compute_dtype, glorot_trainable=bool(cfg.ppmi_embedding_size))
  disc = models.make_discriminator(
      vocab_size, T, feature_size=cfg.disc_feature_size,
      num_layers=cfg.num_layers_disc,
      trainable_embedding_size=cfg.trainable_embedding_size,
      pretrained=pretrained, train_pretrained=cfg.train_pretrained_embedding,
      dropout=cfg.disc_dropout, layer_norm=cfg.layer_norm_disc,
      position=cfg.position_signal, eos=eos, compute_dtype=compute_dtype,
      glorot_trainable=bool(cfg.ppmi_embedding_size))
  tp = cfg.train_pretrained_embedding
  return Setup(cfg, vocab_size, T, eos, gen, disc,
               make_optimizer(cfg.gen_lr, cfg.gen_beta1, tp),
               make_optimizer(cfg.disc_lr, cfg.disc_beta1, tp),
               grad_chunks=cfg.grad_chunks,
               embedding_dim=cfg.trainable_embedding_size
               + (pretrained.shape[1] if pretrained is not None else 0),
               oracle=oracle_params if cfg.reward_source != 'disc' else None)


def init_state(setup: Setup, seed: int) -> TrainState:
  key = jax.random.key(seed)
  k_gen, k_disc, k_run = jax.random.split(key, 3)
  gen_params = setup.gen.init(k_gen)
  if setup.cfg.objective == 'gan':
    disc_params = setup.disc.init(k_disc)
  else:
    disc_params = {}
  return TrainState(
      step=jnp.zeros((), jnp.int32),
      rng=jax.random.key_data(k_run),
      gen_params=gen_params,
      disc_params=disc_params,
      gen_opt_state=setup.gen_opt.init(gen_params),
      disc_opt_state=setup.disc_opt.init(disc_params),
      baseline=jnp.zeros(baseline_shape(setup.cfg), jnp.float32),
      gen_ema=(jax.tree.map(lambda x: jnp.array(x, copy=True), gen_params)
               if setup.cfg.gen_ema else None))


def update_ema(ema, params, decay: float):
  """ema <- decay * ema + (1 - decay) * params, leaf by leaf (None: none kept)."""
  if ema is None:
    return None
  return jax.tree.map(lambda e, p: decay * e + (1.0 - decay) * p, ema, params)


def baseline_shape(cfg: Config) -> tuple[int, ...]:
  """() for the paper's scalar baseline, (T,) for one per position."""
  return (cfg.sequence_length,) if cfg.baseline_type in ('position', 'prefix') else ()


# ----------------------------------------------------------------------------
# Update steps. Their batch is cut into `setup.grad_chunks` fixed chunks
# (parallel.py: device-count invariance, and microbatching within memory).


def _l2_grad(params, weight: float, train_pretrained: bool):
  """(weight * sum w^2/2, its gradient) over trainable params (frozen: zero)."""
  return jax.value_and_grad(
      lambda p: weight * losses.l2_loss(_trainable(p, train_pretrained)))(params)


def _apply(opt, opt_state, params, grads, l2_weight: float, train_pretrained: bool,
           lr_scale=None):
  """Adds the L2 gradient, runs the optimiser; returns (params, opt_state, l2).
  `lr_scale` (a scalar, or None: untouched) multiplies the optimiser's step,
  i.e. its learning rate; Adam's moments do not depend on it."""
  l2, l2_grads = _l2_grad(params, l2_weight, train_pretrained)
  grads = jax.tree.map(jnp.add, grads, l2_grads)
  updates, opt_state = opt.update(grads, opt_state, params)
  if lr_scale is not None:
    updates = jax.tree.map(lambda u: (lr_scale * u).astype(u.dtype), updates)
  return optax.apply_updates(params, updates), opt_state, l2


def gen_lr_scale(cfg: Config, step):
  """The factor on the generator's learning rate at `step` (the update that
  turns state.step = step into step + 1) under --gen_lr_decay, else None.

  1 until start = gen_lr_decay_start * num_steps, then falling to gen_lr_final
  at num_steps: linearly, or along half a cosine (Loshchilov & Hutter, SGDR,
  ICLR 2017). Lowering the step late is the usual complement of averaging the
  iterates (Polyak & Juditsky 1992): both damp the oscillation of the
  generator between checkpoints measured in RESULTS.md section 7.1.
  """
  if cfg.gen_lr_decay == 'none':
    return None
  start = cfg.gen_lr_decay_start * cfg.num_steps
  frac = jnp.clip((jnp.asarray(step, jnp.float32) - start)
                  / max(cfg.num_steps - start, 1.0), 0.0, 1.0)
  shape = 1.0 - frac if cfg.gen_lr_decay == 'linear' else 0.5 * (1.0 + jnp.cos(jnp.pi * frac))
  return cfg.gen_lr_final + (1.0 - cfg.gen_lr_final) * shape


# Keys. Step s's key is fold_in(rng, s) (`gan_update`); from it, update i of
# the discriminator gets fold_in(key, i) and update i of the generator
# fold_in(key, 1000 + i) (`_update_keys`); each update's key is split in
# three (`_subkeys`): [0] draws the batch the update trains on, [1] and [2]
# the dropout masks of its two network calls.


def _update_keys(key, cfg: Config):
  """(discriminator update keys, generator update keys) of one step."""
  return ([jax.random.fold_in(key, i) for i in range(cfg.num_disc_updates)],
          [jax.random.fold_in(key, 1000 + i) for i in range(cfg.num_gen_updates)])


def _subkeys(key):
  """(sample, first call, second call) = split(key, 3) of one update."""
  return jax.random.split(key, 3)


def _disc_update(setup: Setup, mesh, disc_params, disc_opt_state, real, fake, key):
  cfg = setup.cfg
  C = setup.grad_chunks
  _, k_real, k_fake = _subkeys(key)  # [0]: the key `fake` was drawn with
  B, T = real.shape

  def chunk_loss(dp, chunk, keys):
    real_c, fake_c = chunk
    k_real, k_fake = keys
    # One dropout mask per network call, shared by all chunks (same key).
    real_logits = setup.disc.apply(dp, k_real, real_c, True)
    fake_logits = setup.disc.apply(dp, k_fake, fake_c, True)
    ce = losses.discriminator_loss(real_logits, fake_logits, normalizer=B * T)
    rm = models.sequence_mask(real_c, setup.eos)
    fm = models.sequence_mask(fake_c, setup.eos)
    aux = jnp.stack([ce, (jax.nn.sigmoid(real_logits) * rm).sum(), rm.sum(),
                     (jax.nn.sigmoid(fake_logits) * fm).sum(), fm.sum()])
    return ce, aux

  grads, aux = parallel.chunked_grad(chunk_loss, disc_params,
                                     (parallel.chunk(real, C), parallel.chunk(fake, C)),
                                     (k_real, k_fake), mesh)
  new_params, new_opt_state, l2 = _apply(setup.disc_opt, disc_opt_state, disc_params,
                                         grads, cfg.l2_disc, cfg.train_pretrained_embedding)
  prob_real = aux[1] / jnp.maximum(aux[2], 1)  # both before this update
  prob_fake = aux[3] / jnp.maximum(aux[4], 1)
  metrics = {
      'disc_loss': aux[0] + l2,
      'disc_ce': aux[0],
      'disc_prob_real': prob_real,
      'disc_prob_fake': prob_fake,
  }
  if cfg.disc_skip_margin > 0:
    # The discriminator already wins on these batches: leave it (and Adam's
    # moments and step count) as they are, so the generator can catch up. The
    # rule reads both sides: a low D(fake) alone also describes a
    # discriminator that calls everything fake, and freezing that one stops
    # it for good (measured: RESULTS.md section 7). In the spirit of the
    # update-balancing heuristics of GAN practice (e.g. the adaptive
    # discriminator augmentation of Karras et al. 2020 steers by a measure of
    # how far the discriminator has pulled ahead).
    skip = prob_real - prob_fake > cfg.disc_skip_margin
    keep = lambda old, new: jax.tree.map(lambda o, n: jnp.where(skip, o, n), old, new)
    new_params = keep(disc_params, new_params)
    new_opt_state = keep(disc_opt_state, new_opt_state)
    metrics['disc_skipped'] = skip.astype(jnp.float32)
  return new_params, new_opt_state, metrics


def _gen_update(setup: Setup, mesh, gen_params, gen_opt_state, disc_params,
                baseline, key, fake=None, batch_size=None, lr_scale=None, real=None):
  cfg = setup.cfg
  C = setup.grad_chunks
  k_sample, k_disc, k_gen = _subkeys(key)
  if fake is None:
    fake, _ = setup.gen.sample(gen_params, k_sample, batch_size)
  B, T = fake.shape
  lengths = models.first_pad_length(fake, setup.eos)
  mask = models.sequence_mask(fake, setup.eos).astype(jnp.float32)
  if cfg.reward_source == 'disc':
    # The rewards' discriminator pass runs chunk by chunk too, so its
    # activations are bounded by the microbatch (same dropout key: same mask).
    disc_logits = jax.lax.stop_gradient(parallel.chunked_map(
        lambda dp, c, k: setup.disc.apply(dp, k, c, True), disc_params,
        parallel.chunk(fake, C), k_disc, mesh).reshape(B, T))
    rewards = losses.rewards_from_logits(disc_logits, cfg.reward_type, mask)
  else:  # the diagnostic: the exact densities of the sampled tokens
    if setup.oracle is None:
      raise TrainingError(f'--reward_source={cfg.reward_source} needs the oracle\'s '
                          'parameters (make_setup(..., oracle_params=...))')
    gen_lp = parallel.chunked_map(
        lambda gp, c, k: setup.gen.log_prob(gp, c, k, False), gen_params,
        parallel.chunk(fake, C), k_disc, mesh).reshape(B, T)
    oracle_lp = parallel.chunked_map(
        lambda p, c, k: oracle_lib.token_log_probs(p, c), setup.oracle,
        parallel.chunk(fake, C), k_disc, mesh).reshape(B, T)
    rewards = losses.oracle_rewards(oracle_lp, gen_lp, cfg.reward_source, mask)
  if cfg.end_reward == 'absorb':
    rewards = losses.absorb_end(rewards, lengths)
  returns = losses.discounted_returns(rewards, cfg.gamma)
  mean_return = parallel.sum_chunks(parallel.chunk(returns, C).sum(axis=(1, 2)), mesh) / (B * T)
  if cfg.baseline_type == 'prefix':
    # The prefix's predicted return is subtracted first; the per-position
    # baseline below then works on what is left (the same code as `position`).
    returns = returns - losses.prefix_value(rewards, cfg.gamma)
  n_cand = min(cfg.reward_candidates, setup.vocab_size)
  if n_cand:
    # r_t goes to the candidates' term (losses.candidate_policy_loss); the
    # baselines below work on the rest, gamma R_{t+1} (for `prefix`, minus
    # its prediction from the prefix: the prefix value without r_{t-1}).
    returns = returns - rewards
    if cfg.baseline_type == 'prefix':
      returns = returns + jnp.pad(rewards[:, :-1], ((0, 0), (1, 0)))

  # The baseline, and the batch statistics the advantage options need. The
  # advantage itself is computed inside each chunk's program (`advantage`).
  totals = scale = None
  if cfg.baseline_type == 'scalar':  # the paper
    target = mean_return
    if n_cand:  # the baseline follows what it is subtracted from, gamma R_{t+1}
      target = parallel.sum_chunks(parallel.chunk(returns, C).sum(axis=(1, 2)), mesh) / (B * T)
    baseline = losses.update_baseline(baseline, target, cfg.baseline_decay)
  else:
    totals = parallel.batch_sum(lambda r, m, _: losses.position_totals(r, m), (returns, mask),
                         None, C, mesh)
    if cfg.baseline_type in ('position', 'prefix'):
      baseline = losses.update_position_baseline(baseline, *totals, cfg.baseline_decay)

  def advantage(returns_c, mask_c, baseline, totals, scale):
    if cfg.baseline_type == 'scalar':
      adv = returns_c - baseline
    elif cfg.baseline_type in ('position', 'prefix'):
      adv = returns_c - baseline[None, :]
    else:
      adv = returns_c - losses.leave_one_out_baseline(returns_c, mask_c, *totals)
    return adv if scale is None else adv * scale

  if cfg.normalize_advantages:
    scale = losses.advantage_scale(parallel.batch_sum(
        lambda r, m, e: losses.advantage_moments(advantage(r, m, *e, None), m),
        (returns, mask), (baseline, totals), C, mesh))
  K = cfg.gen_updates_per_batch
  if K > 1:  # the policy that drew the batch, for the clipped ratio
    old_lp = jax.lax.stop_gradient(parallel.chunked_map(
        lambda gp, c, k: setup.gen.log_prob(gp, c, k, True), gen_params,
        parallel.chunk(fake, C), k_gen, mesh).reshape(B, T))
  else:
    old_lp = jnp.zeros_like(returns)

  def chunk_loss(gp, chunk, extras):
    fake_c, returns_c, old_c, mask_c, rewards_c = chunk[:5]
    key, b, tot, sc, dp, k_d = extras
    adv = advantage(returns_c, mask_c, b, tot, sc)
    n_clip = n_in = jnp.zeros(())
    if n_cand:  # the immediate reward summed over candidate tokens
      lp_all = setup.gen.log_softmax(gp, fake_c, key, True)
      lp = models.take_token(lp_all, fake_c) * mask_c
      ent = models.step_entropy(lp_all) * mask_c if cfg.entropy_bonus else jnp.zeros(())
      # The generator's n_cand most likely tokens at each step (a function of
      # x_<t), scored by the discriminator with the reward pass's dropout mask.
      cand = jax.lax.top_k(jax.lax.stop_gradient(lp_all), n_cand)[1]
      _, cand_logits = setup.disc.apply(dp, k_d, fake_c, True, cand)
      cand_r = jax.lax.stop_gradient(losses.rewards_from_logits(
          cand_logits, cfg.reward_type, jnp.broadcast_to(mask_c[..., None], cand.shape)))
      pg, in_set = losses.candidate_policy_loss(lp_all, lp, fake_c, mask_c, adv, rewards_c,
                                                cand, cand_r, cfg.gen_loss_reduction,
                                                batch_size=B)
      n_in = (in_set * mask_c).sum()
    else:
      if cfg.entropy_bonus:
        lp, ent = setup.gen.log_prob_entropy(gp, fake_c, key, True)
      else:
        lp, ent = setup.gen.log_prob(gp, fake_c, key, True), jnp.zeros(())
      if K == 1:  # the paper's REINFORCE loss
        pg = losses.reinforce_loss(lp, adv, 0.0, cfg.gen_loss_reduction, batch_size=B)
      else:
        pg, n_clip = losses.clipped_surrogate_loss(lp, old_c, adv, mask_c, cfg.ppo_clip,
                                                   cfg.gen_loss_reduction, batch_size=B)
    if cfg.entropy_bonus:
      pg = pg + losses.entropy_bonus_loss(ent, cfg.entropy_bonus, cfg.gen_loss_reduction,
                                          batch_size=B)
    aux = [-lp.sum(), n_clip, ent.sum(), n_in]
    if cfg.mle_weight:  # the real rows' own dropout key
      real_lp = setup.gen.log_prob(gp, chunk[5], jax.random.fold_in(key, 1), True)
      pg = pg + losses.hybrid_mle_loss(real_lp, cfg.mle_weight, cfg.gen_loss_reduction,
                                       batch_size=B)
      aux.append(-real_lp.sum())
    return pg, jnp.stack([pg] + aux)

  with_real = (real,) if cfg.mle_weight else ()
  chunks = tuple(parallel.chunk(x, C)
                 for x in (fake, returns, old_lp, mask, rewards) + with_real)
  extras = (k_gen, baseline, totals, scale, disc_params if n_cand else None, k_disc)
  clip_frac = []
  for k in range(K):
    grads, aux = parallel.chunked_grad(chunk_loss, gen_params, chunks, extras, mesh)
    gen_params, gen_opt_state, l2 = _apply(setup.gen_opt, gen_opt_state, gen_params,
                                           grads, cfg.l2_gen, cfg.train_pretrained_embedding,
                                           lr_scale)
    if k == 0:  # the loss reported is the first update's (on the sampling policy)
      first_aux, first_l2 = aux, l2
    else:
      clip_frac.append(aux[2])
  n_tok = jnp.maximum(mask.sum(), 1)
  metrics = {
      'gen_loss': first_aux[0] + first_l2,
      'reward': (rewards * mask).sum() / n_tok,
      'return': mean_return,
      'baseline': baseline.mean(),
      'sample_nll': first_aux[1] / n_tok,
      'sample_length': lengths.astype(jnp.float32).mean(),
  }
  if scale is not None:
    metrics['advantage_scale'] = scale
  if lr_scale is not None:
    metrics['gen_lr_scale'] = lr_scale
  if cfg.entropy_bonus:  # mean entropy per generated token, in nats
    metrics['gen_entropy'] = first_aux[3] / n_tok
  if cfg.mle_weight:  # teacher-forced NLL per real token, before the update
    n_real = jnp.maximum(models.sequence_mask(real, setup.eos).sum(), 1)
    metrics['real_nll'] = first_aux[5] / n_real
  if n_cand:  # share of the sampled tokens that were among the candidates
    metrics['candidate_share'] = first_aux[4] / n_tok
  if K > 1:  # share of tokens whose ratio was clipped, over the later updates
    metrics['ppo_clip_frac'] = sum(clip_frac) / (len(clip_frac) * n_tok)
  return gen_params, gen_opt_state, baseline, metrics


def params_finite(tree) -> jax.Array:
  """1.0 when every parameter is finite, else 0.0 (checked before any save)."""
  leaves = [jnp.isfinite(x).all() for x in jax.tree.leaves(tree)]
  return jnp.stack(leaves).all().astype(jnp.float32) if leaves else jnp.float32(1)


def gan_update(setup: Setup, state: TrainState, batch: data_lib.Batch, mesh=None):
  """One ScratchGAN step: discriminator update(s), then generator update(s).
  `setup` has its chunk count resolved (`update_fn` does it)."""
  assert setup.grad_chunks, 'resolve_chunks(setup, mesh) first (update_fn does)'
  cfg = setup.cfg
  key = jax.random.fold_in(jax.random.wrap_key_data(state.rng), state.step)
  gp, dp = state.gen_params, state.disc_params
  g_opt, d_opt, baseline = state.gen_opt_state, state.disc_opt_state, state.baseline
  real = batch.sequence
  B, T = real.shape
  d_keys, g_keys = _update_keys(key, cfg)
  # Every batch drawn before the generator's first update (one per
  # discriminator update, and the first generator update's fresh one) comes
  # from the same parameters: one sampling pass draws them all, with fewer,
  # larger matmuls in its sequential loop. Each batch is the one its own key
  # alone would draw (`GeneratorFns.sample`).
  draw = (d_keys + g_keys[:1])[:parallel.sampled_batches(cfg)]
  drawn, _ = setup.gen.sample(gp, jnp.stack([_subkeys(k)[0] for k in draw]), B)
  drawn = drawn.reshape(len(draw), B, T)
  metrics = {}
  lr_scale = gen_lr_scale(cfg, state.step)
  for i in range(cfg.num_disc_updates):
    dp, d_opt, metrics_d = _disc_update(setup, mesh, dp, d_opt, real, drawn[i], d_keys[i])
    metrics.update(metrics_d)
  for i in range(cfg.num_gen_updates):
    fake = None  # later generator updates draw from the updated generator
    if i == 0:
      fake = drawn[cfg.num_disc_updates - 1] if cfg.reuse_samples else drawn[-1]
    gp, g_opt, baseline, metrics_g = _gen_update(
        setup, mesh, gp, g_opt, dp, baseline, g_keys[i], fake=fake, batch_size=B,
        lr_scale=lr_scale, real=real)
    metrics.update(metrics_g)
  new_state = TrainState(state.step + 1, state.rng, gp, dp, g_opt, d_opt, baseline,
                         update_ema(state.gen_ema, gp, cfg.gen_ema))
  metrics['params_finite'] = params_finite((gp, dp))
  return new_state, metrics


def mle_update(setup: Setup, state: TrainState, batch: data_lib.Batch, mesh=None):
  """One maximum-likelihood (teacher forcing) step of the generator (`setup`
  resolved, as for `gan_update`)."""
  assert setup.grad_chunks, 'resolve_chunks(setup, mesh) first (update_fn does)'
  cfg = setup.cfg
  C = setup.grad_chunks
  key = jax.random.fold_in(jax.random.wrap_key_data(state.rng), state.step)
  n_tok = jnp.maximum(models.sequence_mask(batch.sequence, setup.eos).sum(), 1)

  def chunk_loss(gp, seq_c, extras):
    k, n = extras
    nll = losses.mle_loss(setup.gen.log_prob(gp, seq_c, k, True), n)
    return nll, nll

  grads, nll = parallel.chunked_grad(chunk_loss, state.gen_params,
                                     parallel.chunk(batch.sequence, C), (key, n_tok), mesh)
  gp, g_opt, l2 = _apply(setup.gen_opt, state.gen_opt_state, state.gen_params, grads,
                         cfg.l2_gen, cfg.train_pretrained_embedding,
                         gen_lr_scale(cfg, state.step))
  new_state = state._replace(step=state.step + 1, gen_params=gp, gen_opt_state=g_opt,
                             gen_ema=update_ema(state.gen_ema, gp, cfg.gen_ema))
  return new_state, {'mle_loss': nll + l2, 'train_nll': nll,
                     'params_finite': params_finite(gp)}


def update_fn(setup: Setup, mesh=None):
  """The update step as a pure function `(state, batch) -> (state, metrics)`.

  With `grad_chunks=0` (automatic) the chunk count is chosen here for `mesh`
  (see `resolve_chunks`).
  """
  setup = resolve_chunks(setup, mesh)
  fn = gan_update if setup.cfg.objective == 'gan' else mle_update
  return functools.partial(fn, setup, mesh=mesh)


def compile_update(setup: Setup, mesh, donate: bool = True):
  """jit(update) with replicated state and the batch sharded along `data`."""
  parallel.check_batch_size(setup.cfg.batch_size, mesh)
  setup = resolve_chunks(setup, mesh)
  if setup.grad_chunks % mesh.size:
    raise parallel.ParallelError(
        f'--grad_chunks={setup.grad_chunks} is not a multiple of the '
        f'{mesh.size} devices; set it to a multiple of {mesh.size} (results '
        'are identical for every device count that divides it), or 0 (automatic)')
  repl, data = parallel.replicated(mesh), parallel.data_sharded(mesh)
  return jax.jit(update_fn(setup, mesh), in_shardings=(repl, data),
                 out_shardings=(repl, repl),
                 donate_argnums=(0,) if donate else ())


def resolve_chunks(setup: Setup, mesh) -> Setup:
  """`setup` with its chunk count fixed: the config's, or chosen for `mesh`."""
  if setup.grad_chunks:
    return setup
  cfg = setup.cfg
  n = mesh.size if mesh is not None else 1
  device = jax.local_devices()[0]  # this process's: memory_stats needs it
  budget = (int(cfg.memory_budget_gb * 2**30) if cfg.memory_budget_gb
            else parallel.default_memory_budget(device))
  k = parallel.choose_grad_chunks(cfg, setup.vocab_size, n, budget, device.platform,
                         setup.embedding_dim or None)
  if k > n:
    logging.info('Microbatching: %d gradient chunks of %d examples (budget %.1f GiB '
                 'per device).', k, cfg.batch_size // k, budget / 2**30)
  return dataclasses.replace(setup, grad_chunks=k)
