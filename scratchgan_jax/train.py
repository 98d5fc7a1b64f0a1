"""Train state, the compiled update step, and the host training loop.

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
import json
import os
import time
from typing import Any, NamedTuple

from absl import logging
import jax
import jax.numpy as jnp
import numpy as np
import optax

from scratchgan_jax import checkpoint as ckpt_lib
from scratchgan_jax import data as data_lib
from scratchgan_jax import losses
from scratchgan_jax import models
from scratchgan_jax import parallel
from scratchgan_jax import writers
from scratchgan_jax.config import Config
from jax.sharding import PartitionSpec as P


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
               eos: bool | None = None) -> Setup:
  eos = (not cfg.is_oracle) if eos is None else eos
  compute_dtype = jnp.dtype(cfg.compute_dtype)
  T = cfg.sequence_length
  gen = models.make_generator(
      vocab_size, T, feature_size=cfg.gen_feature_size,
      num_layers=cfg.num_layers_gen,
      trainable_embedding_size=cfg.trainable_embedding_size,
      pretrained=pretrained, train_pretrained=cfg.train_pretrained_embedding,
      embedding_dropout=cfg.gen_embedding_dropout, eos=eos,
      compute_dtype=compute_dtype)
  disc = models.make_discriminator(
      vocab_size, T, feature_size=cfg.disc_feature_size,
      num_layers=cfg.num_layers_disc,
      trainable_embedding_size=cfg.trainable_embedding_size,
      pretrained=pretrained, train_pretrained=cfg.train_pretrained_embedding,
      dropout=cfg.disc_dropout, layer_norm=cfg.layer_norm_disc,
      position=cfg.position_signal, eos=eos, compute_dtype=compute_dtype)
  tp = cfg.train_pretrained_embedding
  return Setup(cfg, vocab_size, T, eos, gen, disc,
               make_optimizer(cfg.gen_lr, cfg.gen_beta1, tp),
               make_optimizer(cfg.disc_lr, cfg.disc_beta1, tp),
               grad_chunks=cfg.grad_chunks,
               embedding_dim=cfg.trainable_embedding_size
               + (pretrained.shape[1] if pretrained is not None else 0))


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
      baseline=jnp.zeros(baseline_shape(setup.cfg), jnp.float32))


def baseline_shape(cfg: Config) -> tuple[int, ...]:
  """() for the paper's scalar baseline, (T,) for one per position."""
  return (cfg.sequence_length,) if cfg.baseline_type in ('position', 'prefix') else ()


# ----------------------------------------------------------------------------
# Update steps.
#
# Device-count invariance: a plain batch mean under jit is reduced by XLA per
# device and then all-reduced, so its summation order (and last bits) depend
# on the device count; even per-row kernels compile differently for different
# shard sizes. Instead, the batch is split into `grad_chunks` fixed chunks;
# each device computes the gradients of its own chunks one after the other
# (the same program for every chunk, whatever the mesh), and the per-chunk
# gradients are gathered and added in a fixed order. Results are bit-identical
# for every device count that divides `grad_chunks` (an explicit
# `--grad_chunks=N`). The default, `grad_chunks=0`, picks the fewest chunks
# that fit the memory budget (`resolve_chunks`): one per device when the batch
# fits, the fastest path; results then agree across device counts to float
# rounding, not bit for bit.


def _chunk(x, c):
  return x.reshape((c, x.shape[0] // c) + x.shape[1:])


def _sum_chunks(tree, mesh):
  """Sum over the leading chunk axis in a fixed order, after gathering."""
  def f(x):
    if mesh is not None:
      x = jax.lax.with_sharding_constraint(x, parallel.replicated(mesh))
    # The barrier stops XLA from folding the chunk sum back into the ops that
    # produced the chunks (which would re-split it across devices).
    x = jax.lax.optimization_barrier(x)
    out = x[0]
    for i in range(1, x.shape[0]):
      out = out + x[i]
    return out
  return jax.tree.map(f, tree)


def chunked_grad(loss_fn, params, chunks, extras, mesh):
  """Sum over chunks of grad(loss_fn)(params, chunk, extras), device-invariant.

  `chunks` is a pytree of arrays with a leading chunk axis (sharded on `data`);
  `extras` is replicated. Each device loops over its own chunks with
  `lax.map`, so every chunk runs the same compiled program whatever the device
  count; the per-chunk results are then gathered and added in a fixed order.
  Returns (summed grads, summed aux).
  """
  g = jax.grad(loss_fn, has_aux=True)

  def local(params, chunks, extras):
    return jax.lax.map(lambda c: g(params, c, extras), chunks)

  if mesh is None:
    out = local(params, chunks, extras)
  else:
    out = jax.shard_map(local, mesh=mesh, in_specs=(P(), P('data'), P()),
                        out_specs=P('data'), check_vma=False)(params, chunks, extras)
  return _sum_chunks(out, mesh)


def chunked_map(fn, params, chunks, extras, mesh):
  """[fn(params, chunk, extras) for each chunk], each device over its own chunks."""
  def local(params, chunks, extras):
    return jax.lax.map(lambda c: fn(params, c, extras), chunks)

  if mesh is None:
    return local(params, chunks, extras)
  return jax.shard_map(local, mesh=mesh, in_specs=(P(), P('data'), P()),
                       out_specs=P('data'), check_vma=False)(params, chunks, extras)


def _l2_grad(params, weight: float, train_pretrained: bool):
  """(weight * sum w^2/2, its gradient) over trainable params (frozen: zero)."""
  return jax.value_and_grad(
      lambda p: weight * losses.l2_loss(_trainable(p, train_pretrained)))(params)


def _apply(opt, opt_state, params, grads, l2_weight: float, train_pretrained: bool):
  """Adds the L2 gradient, runs the optimiser; returns (params, opt_state, l2)."""
  l2, l2_grads = _l2_grad(params, l2_weight, train_pretrained)
  grads = jax.tree.map(jnp.add, grads, l2_grads)
  updates, opt_state = opt.update(grads, opt_state, params)
  return optax.apply_updates(params, updates), opt_state, l2


def _disc_update(setup: Setup, mesh, disc_params, disc_opt_state, real, fake, key):
  cfg = setup.cfg
  C = setup.grad_chunks
  _, k_real, k_fake = jax.random.split(key, 3)  # [0]: the key `fake` was drawn with
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

  grads, aux = chunked_grad(chunk_loss, disc_params, (_chunk(real, C), _chunk(fake, C)),
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


def _batch_stat(fn, chunks, extras, C: int, mesh):
  """sum over the batch of fn(*chunk, extras) computed chunk by chunk: each
  chunk runs the same program on every device count, and the per-chunk
  results are added in a fixed order, so the sum has the same bits on every
  device count that divides C. Replicated inputs go in `extras` (not in a
  closure: a captured array loses that guarantee)."""
  return _sum_chunks(chunked_map(lambda _, c, e: fn(*c, e), None,
                                 tuple(_chunk(x, C) for x in chunks), extras, mesh), mesh)


def _gen_update(setup: Setup, mesh, gen_params, gen_opt_state, disc_params,
                baseline, key, fake=None, batch_size=None):
  cfg = setup.cfg
  C = setup.grad_chunks
  k_sample, k_disc, k_gen = jax.random.split(key, 3)
  if fake is None:
    fake, _ = setup.gen.sample(gen_params, k_sample, batch_size)
  B, T = fake.shape
  # The rewards' discriminator pass runs chunk by chunk too, so its
  # activations are bounded by the microbatch (same dropout key: same mask).
  disc_logits = jax.lax.stop_gradient(chunked_map(
      lambda dp, c, k: setup.disc.apply(dp, k, c, True), disc_params,
      _chunk(fake, C), k_disc, mesh).reshape(B, T))
  lengths = models.first_pad_length(fake, setup.eos)
  mask = models.sequence_mask(fake, setup.eos).astype(jnp.float32)
  rewards = losses.rewards_from_logits(disc_logits)
  if cfg.end_reward == 'absorb':
    rewards = losses.absorb_end(rewards, lengths)
  returns = losses.discounted_returns(rewards, cfg.gamma)
  mean_return = _sum_chunks(_chunk(returns, C).sum(axis=(1, 2)), mesh) / (B * T)
  if cfg.baseline_type == 'prefix':
    # The prefix's predicted return is subtracted first; the per-position
    # baseline below then works on what is left (the same code as `position`).
    returns = returns - losses.prefix_value(rewards, cfg.gamma)

  # The baseline, and the batch statistics the advantage options need. The
  # advantage itself is computed inside each chunk's program (`advantage`).
  totals = scale = None
  if cfg.baseline_type == 'scalar':  # the paper
    baseline = losses.update_baseline(baseline, mean_return, cfg.baseline_decay)
  else:
    totals = _batch_stat(lambda r, m, _: losses.position_totals(r, m), (returns, mask),
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
    scale = losses.advantage_scale(_batch_stat(
        lambda r, m, e: losses.advantage_moments(advantage(r, m, *e, None), m),
        (returns, mask), (baseline, totals), C, mesh))
  K = cfg.gen_updates_per_batch
  if K > 1:  # the policy that drew the batch, for the clipped ratio
    old_lp = jax.lax.stop_gradient(chunked_map(
        lambda gp, c, k: setup.gen.log_prob(gp, c, k, True), gen_params,
        _chunk(fake, C), k_gen, mesh).reshape(B, T))
  else:
    old_lp = jnp.zeros_like(returns)

  def chunk_loss(gp, chunk, extras):
    fake_c, returns_c, old_c, mask_c = chunk
    key, b, tot, sc = extras
    if cfg.entropy_bonus:
      lp, ent = setup.gen.log_prob_entropy(gp, fake_c, key, True)
    else:
      lp, ent = setup.gen.log_prob(gp, fake_c, key, True), jnp.zeros(())
    adv = advantage(returns_c, mask_c, b, tot, sc)
    if K == 1:  # the paper's REINFORCE loss
      pg = losses.reinforce_loss(lp, adv, 0.0, cfg.gen_loss_reduction, batch_size=B)
      n_clip = jnp.zeros(())
    else:
      pg, n_clip = losses.clipped_surrogate_loss(lp, old_c, adv, mask_c, cfg.ppo_clip,
                                                 cfg.gen_loss_reduction, batch_size=B)
    if cfg.entropy_bonus:
      pg = pg + losses.entropy_bonus_loss(ent, cfg.entropy_bonus, cfg.gen_loss_reduction,
                                          batch_size=B)
    return pg, jnp.stack([pg, -lp.sum(), n_clip, ent.sum()])

  chunks = tuple(_chunk(x, C) for x in (fake, returns, old_lp, mask))
  extras = (k_gen, baseline, totals, scale)
  clip_frac = []
  for k in range(K):
    grads, aux = chunked_grad(chunk_loss, gen_params, chunks, extras, mesh)
    gen_params, gen_opt_state, l2 = _apply(setup.gen_opt, gen_opt_state, gen_params,
                                           grads, cfg.l2_gen, cfg.train_pretrained_embedding)
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
  if cfg.entropy_bonus:  # mean entropy per generated token, in nats
    metrics['gen_entropy'] = first_aux[3] / n_tok
  if K > 1:  # share of tokens whose ratio was clipped, over the later updates
    metrics['ppo_clip_frac'] = sum(clip_frac) / (len(clip_frac) * n_tok)
  return gen_params, gen_opt_state, baseline, metrics


def params_finite(tree) -> jax.Array:
  """1.0 when every parameter is finite, else 0.0 (checked before any save)."""
  leaves = [jnp.isfinite(x).all() for x in jax.tree.leaves(tree)]
  return jnp.stack(leaves).all().astype(jnp.float32) if leaves else jnp.float32(1)


def gan_update(setup: Setup, state: TrainState, batch: data_lib.Batch, mesh=None):
  """One ScratchGAN step: discriminator update(s), then generator update(s)."""
  setup = resolve_chunks(setup, mesh)
  cfg = setup.cfg
  key = jax.random.fold_in(jax.random.wrap_key_data(state.rng), state.step)
  gp, dp = state.gen_params, state.disc_params
  g_opt, d_opt, baseline = state.gen_opt_state, state.disc_opt_state, state.baseline
  real = batch.sequence
  B, T = real.shape
  d_keys = [jax.random.fold_in(key, i) for i in range(cfg.num_disc_updates)]
  g_keys = [jax.random.fold_in(key, 1000 + i) for i in range(cfg.num_gen_updates)]
  # Every batch drawn before the generator's first update (one per
  # discriminator update, and the first generator update's fresh one) comes
  # from the same parameters: one sampling pass draws them all, with fewer,
  # larger matmuls in its sequential loop. Each batch is the one its own key
  # alone would draw (`GeneratorFns.sample`).
  draw = (d_keys + g_keys[:1])[:sampled_batches(cfg)]
  drawn, _ = setup.gen.sample(gp, jnp.stack([jax.random.split(k, 3)[0] for k in draw]), B)
  drawn = drawn.reshape(len(draw), B, T)
  metrics = {}
  for i in range(cfg.num_disc_updates):
    dp, d_opt, metrics_d = _disc_update(setup, mesh, dp, d_opt, real, drawn[i], d_keys[i])
    metrics.update(metrics_d)
  for i in range(cfg.num_gen_updates):
    fake = None  # later generator updates draw from the updated generator
    if i == 0:
      fake = drawn[cfg.num_disc_updates - 1] if cfg.reuse_samples else drawn[-1]
    gp, g_opt, baseline, metrics_g = _gen_update(
        setup, mesh, gp, g_opt, dp, baseline, g_keys[i], fake=fake, batch_size=B)
    metrics.update(metrics_g)
  new_state = TrainState(state.step + 1, state.rng, gp, dp, g_opt, d_opt, baseline)
  metrics['params_finite'] = params_finite((gp, dp))
  return new_state, metrics


def mle_update(setup: Setup, state: TrainState, batch: data_lib.Batch, mesh=None):
  """One maximum-likelihood (teacher forcing) step of the generator."""
  setup = resolve_chunks(setup, mesh)
  cfg = setup.cfg
  C = setup.grad_chunks
  key = jax.random.fold_in(jax.random.wrap_key_data(state.rng), state.step)
  n_tok = jnp.maximum(models.sequence_mask(batch.sequence, setup.eos).sum(), 1)

  def chunk_loss(gp, seq_c, extras):
    k, n = extras
    nll = losses.mle_loss(setup.gen.log_prob(gp, seq_c, k, True), n)
    return nll, nll

  grads, nll = chunked_grad(chunk_loss, state.gen_params, _chunk(batch.sequence, C),
                            (key, n_tok), mesh)
  gp, g_opt, l2 = _apply(setup.gen_opt, state.gen_opt_state, state.gen_params, grads,
                         cfg.l2_gen, cfg.train_pretrained_embedding)
  new_state = state._replace(step=state.step + 1, gen_params=gp, gen_opt_state=g_opt)
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


# ----------------------------------------------------------------------------
# Microbatching: how many gradient chunks a step needs.
#
# The step's memory is dominated by the teacher-forced rescoring of the
# sampled batch: B x T x V logits, their softmax and gradients, plus the LSTM
# activations kept for the backward pass. Chunking the batch (each device
# loops over its chunks, gradients accumulated in a fixed order) bounds that
# by the microbatch; sampling stays one pass over the device's batches (the
# discriminator's and the generator's), whose memory is [2B, V] per time step.


def sampled_batches(cfg: Config) -> int:
  """Batches `gan_update` draws in its one sampling pass: one per
  discriminator update, plus the first generator update's own unless it
  reuses the last discriminator batch."""
  return cfg.num_disc_updates + (0 if cfg.reuse_samples else 1)


def step_memory_bytes(cfg: Config, vocab_size: int, microbatch: int,
                      device_batch: int, platform: str = 'gpu',
                      embedding_dim: int | None = None) -> int:
  """Estimated peak bytes of one update step on one device.

  Calibrated on an H100 at the paper preset (float32: 9.6 MB per example of
  a one-chunk step, measured; the estimate is ~10 MB) and doubled on CPU,
  whose compiler keeps more temporaries alive (measured on COCO-sized
  models). Conservative by design: it picks the chunk count, it is not a
  measurement.
  """
  T, V = cfg.sequence_length, vocab_size
  E = embedding_dim or cfg.trainable_embedding_size + (300 if cfg.embedding_path else 0)
  Hg, Lg, Hd = cfg.gen_feature_size, cfg.num_layers_gen, cfg.disc_feature_size
  Ld = cfg.num_layers_disc
  per_example = 4 * T * (4 * V + 16 * Lg * Hg + 16 * Ld * Hd + 4 * E)
  # One sampling pass draws every batch of the step that precedes the
  # generator's first update (`gan_update`): [draws * B, V] per time step.
  sampling = 4 * sampled_batches(cfg) * device_batch * (3 * V + 4 * Lg * Hg + 2 * T)
  params = 4 * (V * E * 2 + 8 * Lg * Hg * Hg + 8 * Ld * Hd * Hd
                + 2 * Lg * Hg * E + V)
  fixed = 6 * params + sampling  # params, grads, 2 Adam moments, copies
  factor = 2 if platform == 'cpu' else 1
  return factor * (microbatch * per_example + fixed)


def default_memory_budget(device=None) -> int:
  """Bytes a step may use: 60% of an accelerator's memory, 25% of host RAM on CPU."""
  device = device or jax.local_devices()[0]
  if device.platform != 'cpu':
    try:
      limit = (device.memory_stats() or {}).get('bytes_limit')
    except Exception:  # pylint: disable=broad-except
      limit = None
    if limit:
      return int(0.6 * limit)
    return 8 << 30
  try:
    total = os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES')
  except (ValueError, OSError, AttributeError):
    total = 8 << 30
  return int(0.25 * total)


def choose_grad_chunks(cfg: Config, vocab_size: int, num_devices: int,
                       budget_bytes: int, platform: str = 'gpu',
                       embedding_dim: int | None = None) -> int:
  """The fewest chunks (a multiple of the device count) whose step fits.

  Fewest chunks = largest kernels = fastest. Raises ParallelError before any
  compilation when even one example per chunk does not fit.
  """
  B = cfg.batch_size
  per_device = B // num_devices
  need = lambda mb: step_memory_bytes(cfg, vocab_size, mb, per_device, platform,
                                     embedding_dim)
  for k in range(1, per_device + 1):
    if per_device % k == 0 and need(per_device // k) <= budget_bytes:
      return k * num_devices
  gb = need(1) / 2**30
  raise parallel.ParallelError(
      f'--batch_size={B} does not fit in the memory budget of '
      f'{budget_bytes / 2**30:.1f} GiB per device even one example at a time '
      f'(estimated {gb:.1f} GiB; the sampling pass alone is '
      f'{4 * sampled_batches(cfg) * per_device * 3 * vocab_size / 2**30:.1f} GiB): raise '
      '--memory_budget_gb, use more devices, or lower --batch_size')


def resolve_chunks(setup: Setup, mesh) -> Setup:
  """`setup` with its chunk count fixed: the config's, or chosen for `mesh`."""
  if setup.grad_chunks:
    return setup
  cfg = setup.cfg
  n = mesh.size if mesh is not None else 1
  device = jax.local_devices()[0]  # this process's: memory_stats needs it
  budget = (int(cfg.memory_budget_gb * 2**30) if cfg.memory_budget_gb
            else default_memory_budget(device))
  k = choose_grad_chunks(cfg, setup.vocab_size, n, budget, device.platform,
                         setup.embedding_dim or None)
  if k > n:
    logging.info('Microbatching: %d gradient chunks of %d examples (budget %.1f GiB '
                 'per device).', k, cfg.batch_size // k, budget / 2**30)
  return dataclasses.replace(setup, grad_chunks=k)
