"""Does averaging the generator's weights over its last checkpoints give better
samples than any one of them? For a training run, each kept checkpoint's
generator and the element-wise mean of their generator parameters are scored
the same way (the same sample seed, count and temperature, the metrics of
`launch.py --mode=evaluate`), one JSON line each.

Averaging the iterates of a GAN's generator is a known remedy for players
that circle instead of converging (Yazici et al., "The unusual effectiveness
of averaging in GAN training", ICLR 2019; Polyak & Juditsky 1992); this probe
asks whether it helps ScratchGAN's policy without changing its training.

    python scripts/average_probe.py --workdir=runs/emnlp --out=average.jsonl \
        [--steps=4400,4600,4800] [--metrics=fed,bleu,self_bleu,length]
"""
from __future__ import annotations

import json
import os

import jax
import numpy as np
from absl import app, flags

from scratchgan_jax import evaluate, experiment

_WORKDIR = flags.DEFINE_string('workdir', None, 'A training run.')
_STEPS = flags.DEFINE_list('steps', [], 'Checkpoint steps (default: every kept one).')
_METRICS = flags.DEFINE_list('metrics', ['fed', 'bleu', 'self_bleu', 'length'],
                             'Metrics, as for launch.py --mode=evaluate.')
_NUM = flags.DEFINE_integer('num_samples', 10000, 'Samples per generator.')
_SEED = flags.DEFINE_integer('seed', 0, 'Sampling seed (the same for every generator).')
_OUT = flags.DEFINE_string('out', '', 'JSON lines output (default: stdout only).')


def average(trees):
  """The element-wise mean of parameter trees of one structure, in float64
  then cast back to each leaf's dtype."""
  return jax.tree_util.tree_map(
      lambda *xs: np.mean(np.stack([np.asarray(x, np.float64) for x in xs]), axis=0)
      .astype(np.asarray(xs[0]).dtype), *trees)


def _summary(metrics: dict) -> dict:
  out = {}
  fed = evaluate.fed_value(metrics)
  if fed is not None:
    out['fed'] = round(fed, 5)
  for group in ('bleu', 'self_bleu', 'length', 'novelty'):
    for k, v in (metrics.get(group) or {}).items():
      if isinstance(v, (int, float)):
        out[f'{group}.{k}' if group in ('length', 'novelty') else k] = round(float(v), 5)
  return out


def main(argv):
  del argv
  workdir = _WORKDIR.value
  steps = [int(s) for s in _STEPS.value] or None
  run, states = experiment.checkpoint_states(workdir, steps)
  gens = [(step, jax.device_get(state.gen_params)) for step, state in states]
  opts = evaluate.EvalOptions(metrics=tuple(_METRICS.value), num_samples=_NUM.value,
                              seed=_SEED.value)
  candidates = [(f'step {s}', [s], p) for s, p in gens]
  candidates.append(('average', [s for s, _ in gens], average([p for _, p in gens])))
  rows = []
  for label, used, params in candidates:
    m = evaluate.evaluate_run(workdir, opts, write=False,
                              loaded=(run, jax.device_put(params), label))
    row = dict(workdir=os.path.basename(os.path.normpath(workdir)), generator=label,
               steps=used, num_samples=_NUM.value, seed=_SEED.value, **_summary(m))
    print(json.dumps(row), flush=True)
    rows.append(row)
  if _OUT.value:
    with open(_OUT.value, 'a') as f:
      f.writelines(json.dumps(r) + '\n' for r in rows)


if __name__ == '__main__':
  flags.mark_flag_as_required('workdir')
  app.run(main)
