"""How much of the REINFORCE return can a baseline explain? For each checkpoint
of a GAN run: draw N samples, compute their rewards and discounted returns R_t
as the run's training does (its --reward_type, --end_reward and gamma; the
discriminator without dropout), and measure, on the held-out half of the
samples, the share of the variance of R_t over valid tokens that is left after
subtracting each baseline (1 - R^2; lower: a less noisy gradient):

  scalar     the mean return (the paper's moving average, at its fixed point)
  position   the mean return at each position t
  prefix     v_t = G_t r_{t-1} (`losses.prefix_value`), plus the per-position
             mean of R_t - v_t (`--baseline_type=prefix` at its fixed point)
  critic     a ridge regression of R_t on the generator's LSTM state at t (a
             function of x_<t only, so an unbiased baseline), v_t and a
             one-hot of t, fitted on the other half: what a learned linear
             critic could do at best with these features
  critic_h   the same without v_t (only the generator's state and t)

One JSON line per checkpoint.

    python scripts/critic_probe.py --workdir=runs/emnlp --out=probe.jsonl
"""
from __future__ import annotations

import json
import os

import jax
import jax.numpy as jnp
import numpy as np
from absl import app, flags

from scratchgan_jax import experiment, inference, losses, models, writers

_WORKDIR = flags.DEFINE_string('workdir', None, 'A GAN training run.')
_NUM = flags.DEFINE_integer('num', 4000, 'Samples per checkpoint (half fit, half test).')
_OUT = flags.DEFINE_string('out', '', 'JSON lines output (default: stdout only).')
_SEED = flags.DEFINE_integer('seed', 0, 'Which samples.')
_RIDGE = flags.DEFINE_float('ridge', 1e-3, 'Ridge penalty, relative to the mean '
                            'diagonal of the features\' Gram matrix.')
_STEPS = flags.DEFINE_string('steps', '', 'Comma-separated checkpoint steps '
                             '(default: every checkpoint of the run).')


def returns_and_features(cfg, setup, gp, dp, seqs, batch=500):
  """(R [N, T], v [N, T], mask [N, T], generator state [N, T, F]) as float64."""
  eos = setup.eos

  @jax.jit
  def one(gp, dp, s):
    logits = setup.disc.apply(dp, None, s, False)
    mask = models.sequence_mask(s, eos).astype(jnp.float32)
    rewards = losses.rewards_from_logits(logits, cfg.reward_type, mask)
    if cfg.end_reward == 'absorb':
      rewards = losses.absorb_end(rewards, models.first_pad_length(s, eos))
    return (losses.discounted_returns(rewards, cfg.gamma),
            losses.prefix_value(rewards, cfg.gamma), mask, setup.gen.features(gp, s))

  parts = [one(gp, dp, jnp.asarray(seqs[i:i + batch])) for i in range(0, len(seqs), batch)]
  return [np.concatenate([np.asarray(p[k], np.float64) for p in parts]) for k in range(4)]


def left_over(target, pred, mask):
  """Var(target - pred) / Var(target) over the unmasked entries."""
  m = mask > 0
  return float(np.var((target - pred)[m]) / np.var(target[m]))


def probe(R, v, mask, feats, ridge):
  n = len(R) // 2
  fit, test = slice(0, n), slice(n, 2 * n)
  T = R.shape[1]
  m_fit = mask[fit] > 0
  out = {}
  out['scalar'] = left_over(R[test], R[fit][m_fit].mean(), mask[test])
  count = np.maximum(mask[fit].sum(0), 1)
  pos_mean = (R[fit] * mask[fit]).sum(0) / count
  out['position'] = left_over(R[test], pos_mean[None], mask[test])
  rest_mean = ((R[fit] - v[fit]) * mask[fit]).sum(0) / count
  out['prefix'] = left_over(R[test], v[test] + rest_mean[None], mask[test])
  onehot = np.eye(T)
  for name, with_v in (('critic', True), ('critic_h', False)):
    def design(sl):
      cols = [feats[sl], np.broadcast_to(onehot, R[sl].shape + (T,))]
      if with_v:
        cols.append(v[sl][..., None])
      return np.concatenate(cols, -1)
    X, y = design(fit)[m_fit], R[fit][m_fit]
    G = X.T @ X
    w = np.linalg.solve(G + ridge * np.trace(G) / len(G) * np.eye(len(G)), X.T @ y)
    out[name] = left_over(R[test], design(test) @ w, mask[test])
  return out


def main(argv):
  del argv
  workdir = _WORKDIR.value
  steps = [int(s) for s in _STEPS.value.split(',')] if _STEPS.value else None
  run, states = experiment.checkpoint_states(workdir, steps)
  cfg = run.cfg
  if cfg.objective != 'gan':
    raise app.UsageError(f'{workdir}: an --objective=gan run is needed')
  rows = []
  for step, state in states:
    gp, dp = state.gen_params, state.disc_params
    seqs = np.asarray(inference.sample_tokens(run.setup.gen, gp, _NUM.value, _SEED.value))
    R, v, mask, feats = returns_and_features(cfg, run.setup, gp, dp, seqs)
    row = dict(workdir=os.path.basename(os.path.normpath(workdir)), step=step,
               baseline_type=cfg.baseline_type,
               reward_type=cfg.reward_type, num=len(seqs),
               return_std=round(float(R[mask > 0].std()), 4),
               **{f'left_{k}': round(x, 4) for k, x in
                  probe(R, v, mask, feats, _RIDGE.value).items()})
    print(json.dumps(row), flush=True)
    rows.append(row)
  if _OUT.value:
    writers.append_jsonl(_OUT.value, rows)


if __name__ == '__main__':
  flags.mark_flag_as_required('workdir')
  app.run(main)
