"""Does averaging the generator's weights over its last checkpoints give better
samples than any one of them? For a training run, each kept checkpoint's
generator and the element-wise mean of their generator parameters are scored
the same way (the same sample seed, count and temperature, the metrics of
`launch.py --mode=evaluate`), one JSON line each.

Averaging the iterates of a GAN's generator is a known remedy for players
that circle instead of converging (Yazici et al., "The unusual effectiveness
of averaging in GAN training", ICLR 2019; Polyak & Juditsky 1992); this probe
asks whether it helps ScratchGAN's policy without changing its training. (The
mean of every kept checkpoint is also what `launch.py --mode=sample|evaluate
--checkpoint=average` uses.)

    python scripts/average_probe.py --workdir=runs/emnlp --out=average.jsonl \
        [--steps=4400,4600,4800] [--windows=3,6] [--metrics=fed,bleu,self_bleu,length]
    python scripts/average_probe.py --table=average.md --out=average.jsonl  # the table only
"""
from __future__ import annotations

import json
import os

import jax
import numpy as np
from absl import app, flags

from scratchgan_jax import evaluate, experiment, writers
from scratchgan_jax.sweep import sample_std

_WORKDIR = flags.DEFINE_string('workdir', None, 'A training run.')
_STEPS = flags.DEFINE_list('steps', [], 'Checkpoint steps (default: every kept one).')
_METRICS = flags.DEFINE_list('metrics', ['fed', 'bleu', 'self_bleu', 'length'],
                             'Metrics, as for launch.py --mode=evaluate.')
_NUM = flags.DEFINE_integer('num_samples', 10000, 'Samples per generator.')
_SEED = flags.DEFINE_integer('seed', 0, 'Sampling seed (the same for every generator).')
_REFS = flags.DEFINE_integer('max_references', 10000,
                             'Validation sentences the metrics compare against.')
_WINDOWS = flags.DEFINE_list('windows', [], 'Also score the mean of the last K checkpoints '
                              'for each K given (e.g. 3,6: is a wider window better?).')
_OUT = flags.DEFINE_string('out', '', 'JSON lines output (default: stdout only).')
_TABLE = flags.DEFINE_string('table', '', 'Write the Markdown table of the rows in --out '
                             'to this file, and evaluate nothing.')


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


def table(rows: list[dict]) -> str:
  """One line per run: FED of each checkpoint, of their mean generator, and
  BLEU-5 / Self-BLEU-5 of the average against the checkpoints' mean; then the
  average's gain over the runs (mean ± sample std, n - 1)."""
  runs = {}
  for r in rows:
    runs.setdefault(r['workdir'], []).append(r)
  lines = ['FED[use] (lower is better), BLEU-5 and Self-BLEU-5 on the same samples of each '
           "generator: each kept checkpoint alone, and the element-wise mean of their "
           'parameters. Made by `scripts/average_probe.py --table`.', '',
           '| run | checkpoints | FED of each | FED, their mean | FED of the average '
           '| average − mean of each | average − best | BLEU-5 each → average '
           '| Self-BLEU-5 each → average |', '|---|---|---|---|---|---|---|---|---|']
  gains, vs_best = [], []
  for name, rs in runs.items():
    single = {tuple(r['steps']): r for r in rs if not r['generator'].startswith('average')}
    # The mean of every kept checkpoint (the last such row), then any narrower windows.
    avgs = [[r for r in rs if r['generator'] == 'average'][-1]]
    avgs += list({tuple(r['steps']): r for r in rs
                  if r['generator'].startswith('average of')}.values())
    for avg in avgs:
      each = [single[(s,)] for s in avg['steps']]
      feds = [r['fed'] for r in each]
      gain, vs = avg['fed'] - np.mean(feds), avg['fed'] - min(feds)
      if avg is avgs[0]:
        gains.append(gain)
        vs_best.append(vs)
      label = name if avg is avgs[0] else f"{name}, {avg['generator']}"
      lines.append(
          f"| {label} | {', '.join(str(s) for s in avg['steps'])} | "
          f"{' / '.join(f'{x:.3f}' for x in feds)} | {np.mean(feds):.3f} | {avg['fed']:.3f} | "
          f'{gain:+.3f} | {vs:+.3f} | '
          f"{np.mean([r['bleu5'] for r in each]):.3f} → {avg['bleu5']:.3f} | "
          f"{np.mean([r['self_bleu5'] for r in each]):.3f} → {avg['self_bleu5']:.3f} |")
  if len(gains) > 1:
    lines.append(f'| **mean ± std over {len(gains)} runs** | | | | | '
                 f'{np.mean(gains):+.3f} ± {sample_std(gains):.3f} | '
                 f'{np.mean(vs_best):+.3f} ± {sample_std(vs_best):.3f} | | |')
  return '\n'.join(lines) + '\n'


def main(argv):
  del argv
  if _TABLE.value:  # the table of rows already written
    rows = []
    for path in _OUT.value.split(','):
      with open(path) as f:
        rows += [json.loads(l) for l in f if l.strip()]
    with open(_TABLE.value, 'w') as f:
      f.write(table(rows))
    print(f'{len(rows)} rows -> {_TABLE.value}')
    return
  workdir = _WORKDIR.value
  if not workdir:
    raise app.UsageError('--workdir is required (or --table with --out)')
  steps = [int(s) for s in _STEPS.value] or None
  run, states = experiment.checkpoint_states(workdir, steps)
  # The generator --mode=evaluate scores (the moving average where the run keeps one).
  gens = [(step, jax.device_get(state.eval_params)) for step, state in states]
  opts = evaluate.EvalOptions(metrics=tuple(_METRICS.value), num_samples=_NUM.value,
                              seed=_SEED.value, max_references=_REFS.value)
  candidates = [(f'step {s}', [s], p) for s, p in gens]
  for k in sorted({int(k) for k in _WINDOWS.value}):
    if 1 < k < len(gens):
      candidates.append((f'average of the last {k}', [s for s, _ in gens[-k:]],
                         experiment.average_params([p for _, p in gens[-k:]])))
  candidates.append(('average', [s for s, _ in gens],
                     experiment.average_params([p for _, p in gens])))
  rows = []
  for label, used, params in candidates:
    m = evaluate.evaluate_run(workdir, opts, write=False,
                              loaded=(run, jax.device_put(params), label))
    row = dict(workdir=os.path.basename(os.path.normpath(workdir)), generator=label,
               steps=used, num_samples=_NUM.value, seed=_SEED.value, **_summary(m))
    print(json.dumps(row), flush=True)
    rows.append(row)
  if _OUT.value:
    writers.append_jsonl(_OUT.value, rows)


if __name__ == '__main__':
  app.run(main)
