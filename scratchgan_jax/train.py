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
from scratchgan_jax import oracle as oracle_lib
from scratchgan_jax import parallel
from scratchgan_jax import writers
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
  baseline: jax.Array  # float32 scalar: moving average of the returns


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
               eos: bool | None = None, compute_dtype=jnp.float32) -> Setup:
  eos = (not cfg.is_oracle) if eos is None else eos
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
               make_optimizer(cfg.disc_lr, cfg.disc_beta1, tp))


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
      baseline=jnp.zeros((), jnp.float32))


# ----------------------------------------------------------------------------
# Update steps.


def _disc_update(setup: Setup, gen_params, disc_params, disc_opt_state, real, key):
  cfg = setup.cfg
  k_sample, k_real, k_fake = jax.random.split(key, 3)
  fake, _ = setup.gen.sample(gen_params, k_sample, real.shape[0])

  def loss_fn(dp):
    real_logits = setup.disc.apply(dp, k_real, real, True)
    fake_logits = setup.disc.apply(dp, k_fake, fake, True)
    ce = losses.discriminator_loss(real_logits, fake_logits)
    l2 = losses.l2_loss(_trainable(dp, cfg.train_pretrained_embedding))
    return ce + cfg.l2_disc * l2, (ce, real_logits, fake_logits)

  (loss, (ce, real_logits, fake_logits)), grads = jax.value_and_grad(
      loss_fn, has_aux=True)(disc_params)
  updates, disc_opt_state = setup.disc_opt.update(grads, disc_opt_state, disc_params)
  disc_params = optax.apply_updates(disc_params, updates)
  real_mask = models.sequence_mask(real, setup.eos)
  fake_mask = models.sequence_mask(fake, setup.eos)
  masked_mean = lambda x, m: (x * m).sum() / jnp.maximum(m.sum(), 1)
  metrics = {
      'disc_loss': loss,
      'disc_ce': ce,
      'disc_prob_real': masked_mean(jax.nn.sigmoid(real_logits), real_mask),
      'disc_prob_fake': masked_mean(jax.nn.sigmoid(fake_logits), fake_mask),
  }
  return disc_params, disc_opt_state, metrics, fake


def _gen_update(setup: Setup, gen_params, gen_opt_state, disc_params, baseline,
                key, fake=None, batch_size=None):
  cfg = setup.cfg
  k_sample, k_disc, k_gen = jax.random.split(key, 3)
  if fake is None:
    fake, _ = setup.gen.sample(gen_params, k_sample, batch_size)
  disc_logits = jax.lax.stop_gradient(setup.disc.apply(disc_params, k_disc, fake, True))
  rewards = losses.rewards_from_logits(disc_logits)
  returns = losses.discounted_returns(rewards, cfg.gamma)
  baseline = losses.update_baseline(baseline, returns, cfg.baseline_decay)

  def loss_fn(gp):
    lp = setup.gen.log_prob(gp, fake, k_gen, True)
    pg = losses.reinforce_loss(lp, returns, baseline, cfg.gen_loss_reduction)
    l2 = losses.l2_loss(_trainable(gp, cfg.train_pretrained_embedding))
    return pg + cfg.l2_gen * l2, lp

  (loss, lp), grads = jax.value_and_grad(loss_fn, has_aux=True)(gen_params)
  updates, gen_opt_state = setup.gen_opt.update(grads, gen_opt_state, gen_params)
  gen_params = optax.apply_updates(gen_params, updates)
  mask = models.sequence_mask(fake, setup.eos)
  metrics = {
      'gen_loss': loss,
      'reward': (rewards * mask).sum() / jnp.maximum(mask.sum(), 1),
      'return': returns.mean(),
      'baseline': baseline,
      'sample_nll': -lp.sum() / jnp.maximum(mask.sum(), 1),
      'sample_length': models.first_pad_length(fake, setup.eos).astype(jnp.float32).mean(),
  }
  return gen_params, gen_opt_state, baseline, metrics


def gan_update(setup: Setup, state: TrainState, batch: data_lib.Batch):
  """One ScratchGAN step: discriminator update(s), then generator update(s)."""
  cfg = setup.cfg
  key = jax.random.fold_in(jax.random.wrap_key_data(state.rng), state.step)
  gp, dp = state.gen_params, state.disc_params
  g_opt, d_opt, baseline = state.gen_opt_state, state.disc_opt_state, state.baseline
  real = batch.sequence
  metrics, fake = {}, None
  for i in range(cfg.num_disc_updates):
    dp, d_opt, metrics_d, fake = _disc_update(
        setup, gp, dp, d_opt, real, jax.random.fold_in(key, i))
    metrics.update(metrics_d)
  for i in range(cfg.num_gen_updates):
    reuse = fake if (cfg.reuse_samples and i == 0) else None
    gp, g_opt, baseline, metrics_g = _gen_update(
        setup, gp, g_opt, dp, baseline, jax.random.fold_in(key, 1000 + i),
        fake=reuse, batch_size=real.shape[0])
    metrics.update(metrics_g)
  new_state = TrainState(state.step + 1, state.rng, gp, dp, g_opt, d_opt, baseline)
  return new_state, metrics


def mle_update(setup: Setup, state: TrainState, batch: data_lib.Batch):
  """One maximum-likelihood (teacher forcing) step of the generator."""
  cfg = setup.cfg
  key = jax.random.fold_in(jax.random.wrap_key_data(state.rng), state.step)
  mask = models.sequence_mask(batch.sequence, setup.eos)

  def loss_fn(gp):
    lp = setup.gen.log_prob(gp, batch.sequence, key, True)
    nll = losses.mle_loss(lp, mask)
    l2 = losses.l2_loss(_trainable(gp, cfg.train_pretrained_embedding))
    return nll + cfg.l2_gen * l2, nll

  (loss, nll), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.gen_params)
  updates, g_opt = setup.gen_opt.update(grads, state.gen_opt_state, state.gen_params)
  gp = optax.apply_updates(state.gen_params, updates)
  new_state = state._replace(step=state.step + 1, gen_params=gp, gen_opt_state=g_opt)
  return new_state, {'mle_loss': loss, 'train_nll': nll}


def update_fn(setup: Setup):
  fn = gan_update if setup.cfg.objective == 'gan' else mle_update
  return functools.partial(fn, setup)


def compile_update(setup: Setup, mesh, donate: bool = True):
  """jit(update) with replicated state and the batch sharded along `data`."""
  repl, data = parallel.replicated(mesh), parallel.data_sharded(mesh)
  return jax.jit(update_fn(setup), in_shardings=(repl, data),
                 out_shardings=(repl, repl),
                 donate_argnums=(0,) if donate else ())


# ----------------------------------------------------------------------------
# Data for a config.


def load_dataset(cfg: Config):
  """Returns (Dataset, oracle params or None) for `cfg.dataset`."""
  kw = dict(max_length=cfg.max_length, max_vocab_size=cfg.max_vocab_size,
            skip_long=cfg.skip_long_sentences)
  if cfg.is_oracle:
    params = (oracle_lib.load_oracle(cfg.oracle_params) if cfg.oracle_params
              else oracle_lib.random_oracle(cfg.oracle_seed, cfg.oracle_vocab_size,
                                            cfg.oracle_embedding_size,
                                            cfg.oracle_hidden_size))
    ds = oracle_lib.make_dataset(params, cfg.oracle_length, cfg.oracle_num_train,
                                 cfg.oracle_num_valid, cfg.oracle_seed)
    return ds, params
  if cfg.dataset == 'emnlp2017':
    return data_lib.load_emnlp2017(cfg.data_dir, **kw), None
  if cfg.dataset == 'text':
    return data_lib.load_text(cfg.train_path, cfg.valid_path,
                              lowercase=cfg.lowercase,
                              min_tokens=cfg.min_sentence_tokens, **kw), None
  name = cfg.dataset.split(':', 1)[1]
  return data_lib.load_tfds(name, data_dir=cfg.tfds_data_dir,
                            text_key=cfg.tfds_text_key,
                            train_split=cfg.tfds_train_split,
                            valid_split=cfg.tfds_valid_split,
                            lowercase=cfg.lowercase,
                            min_tokens=cfg.min_sentence_tokens, **kw), None


def pretrained_embeddings(cfg: Config, dataset) -> np.ndarray | None:
  if not cfg.embedding_path:
    return None
  return data_lib.load_glove(cfg.embedding_path, dataset.vocab, cfg.seed)
