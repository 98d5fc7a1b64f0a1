"""Does the discriminator of a text run tell real from generated, or training
sentences from any others? For each checkpoint of a run, the mean per-token
D = sigmoid(logit) (no dropout) on N training sentences, N validation
sentences and N generator samples, one JSON line per checkpoint.

A discriminator that memorises its training set scores the training
sentences far above the validation sentences; one that has learnt what real
text looks like scores both alike, above the samples.

    python scripts/disc_probe.py --workdir=runs/emnlp --out=probe.jsonl
"""
from __future__ import annotations

import json
import os

import jax
import jax.numpy as jnp
import numpy as np
from absl import app, flags

from scratchgan_jax import experiment, inference, models, writers

_WORKDIR = flags.DEFINE_string('workdir', None, 'A training run (text dataset).')
_NUM = flags.DEFINE_integer('num', 2000, 'Sentences of each kind.')
_OUT = flags.DEFINE_string('out', '', 'JSON lines output (default: stdout only).')
_SEED = flags.DEFINE_integer('seed', 0, 'Which sentences and samples.')


def mean_d(disc, params, seqs: np.ndarray, eos: bool, batch: int = 500):
  """(mean sigmoid(D_t) over the unmasked tokens of `seqs`, the same mean at
  each position t [T], NaN where no sequence runs)."""
  apply = jax.jit(lambda p, s: (jax.nn.sigmoid(disc.apply(p, None, s, False))
                                * models.sequence_mask(s, eos)).sum(axis=0))
  total = sum(np.asarray(apply(params, jnp.asarray(seqs[i:i + batch])), np.float64)
              for i in range(0, len(seqs), batch))
  count = np.asarray(models.sequence_mask(jnp.asarray(seqs), eos), np.float64).sum(axis=0)
  with np.errstate(invalid='ignore', divide='ignore'):
    by_position = np.where(count > 0, total / count, np.nan)
  return float(total.sum() / count.sum()), by_position


def main(argv):
  del argv
  workdir = _WORKDIR.value
  run, states = experiment.checkpoint_states(workdir)
  ds = run.dataset
  rng = np.random.default_rng(_SEED.value)
  n = _NUM.value
  train = ds.train[rng.choice(len(ds.train), min(n, len(ds.train)), replace=False)]
  valid = ds.valid[rng.choice(len(ds.valid), min(n, len(ds.valid)), replace=False)]
  rows = []
  for step, state in states:
    gp, dp = state.gen_params, state.disc_params
    fake = inference.sample_tokens(run.setup.gen, gp, n, _SEED.value)
    row = dict(workdir=os.path.basename(os.path.normpath(workdir)), step=step)
    for name, seqs in (('train', train), ('valid', valid), ('fake', np.asarray(fake))):
      mean, by_t = mean_d(run.setup.disc, dp, seqs, ds.eos)
      row[f'd_{name}'] = round(mean, 4)
      row[f'd_{name}_by_position'] = [None if np.isnan(x) else round(float(x), 4)
                                      for x in by_t]
    print(json.dumps({k: v for k, v in row.items() if 'position' not in k}), flush=True)
    rows.append(row)
  if _OUT.value:
    writers.append_jsonl(_OUT.value, rows)


if __name__ == '__main__':
  flags.mark_flag_as_required('workdir')
  app.run(main)
