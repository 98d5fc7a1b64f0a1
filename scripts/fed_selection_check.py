"""Is FED on 1,000 samples (the training-time evaluation that picks the best
checkpoint) precise enough to tell checkpoints apart? For each run it sets the
FED[1k] logged during training next to FED[use] on 10,000 other samples of the
same checkpoints (the rows of `scripts/average_probe.py`, a different sample
seed and the 10k reference set), and says whether the two rank the
checkpoints alike.

FED on n samples is biased upwards by about tr(Sigma)/n-order terms (as for
FID: Chong & Forsyth, "Effectively unbiased FID and Inception score and where
to find them", CVPR 2020), so the two scales differ by an offset; what model
selection needs is that the order survives.

    python scripts/fed_selection_check.py --out=table.md \
        --probe=average_probe_4800.jsonl run_s0=run_s0/metrics.jsonl ...
"""
from __future__ import annotations

import argparse
import json
import os

import numpy as np

from scratchgan_jax import writers
from scratchgan_jax.sweep import sample_std


def read_probe(paths: list[str]) -> dict[str, dict[int, float]]:
  """workdir -> {step: FED[10k]} of the single-checkpoint rows."""
  out: dict[str, dict[int, float]] = {}
  for path in paths:
    with open(path, encoding='utf-8') as f:
      for line in f:
        r = json.loads(line)
        if len(r['steps']) == 1 and r['generator'] != 'average' and 'fed' in r:
          out.setdefault(r['workdir'], {})[int(r['steps'][0])] = float(r['fed'])
  return out


def read_training_fed(path: str) -> dict[int, float]:
  """step -> FED of each training-time evaluation in a metrics.jsonl."""
  if not os.path.isfile(path):
    raise FileNotFoundError(f'{path}: no such metrics.jsonl')
  return {int(r['step']): float(r['fed']) for r in writers.read_metrics(path)
          if r.get('eval') and 'fed' in r}


def compare(fed_1k: dict[int, float], fed_10k: dict[int, float]) -> dict:
  """The checkpoints both measured: their values, whether the best and the
  whole order agree, the mean offset FED[1k] - FED[10k], and the sample std of
  that difference over the checkpoints (what FED[1k] adds to a checkpoint's
  score beyond the offset: its noise, and the smaller noise of FED[10k])."""
  steps = sorted(set(fed_1k) & set(fed_10k))
  if len(steps) < 2:
    raise ValueError(f'need two checkpoints measured both ways, have steps {steps}')
  a = np.array([fed_1k[s] for s in steps])
  b = np.array([fed_10k[s] for s in steps])
  return {'steps': steps, 'fed_1k': a.tolist(), 'fed_10k': b.tolist(),
          'same_best': bool(np.argmin(a) == np.argmin(b)),
          'same_order': bool((np.argsort(a, kind='stable') == np.argsort(b, kind='stable')).all()),
          'offset': float(np.mean(a - b)), 'residual_std': sample_std(a - b),
          'range_10k': float(b.max() - b.min())}


def table(rows: list[tuple[str, dict]], title: str = '') -> str:
  f3 = lambda xs: ' / '.join(f'{x:.3f}' for x in xs)
  body = [[name, ', '.join(str(s) for s in c['steps']), f3(c['fed_1k']), f3(c['fed_10k']),
           f"{c['range_10k']:.3f}", 'yes' if c['same_best'] else 'no',
           'yes' if c['same_order'] else 'no', f"{c['offset']:+.3f}",
           f"{c['residual_std']:.3f}"] for name, c in rows]
  offsets = [c['offset'] for _, c in rows]
  body.append([f'**{len(rows)} runs**', '', '', '', '',
               f"{sum(c['same_best'] for _, c in rows)} of {len(rows)}",
               f"{sum(c['same_order'] for _, c in rows)} of {len(rows)}",
               f'{np.mean(offsets):+.3f} ± {sample_std(offsets):.3f}',
               f"{np.sqrt(np.mean([c['residual_std'] ** 2 for _, c in rows])):.3f} (pooled)"])
  header = ['run', 'checkpoints', 'FED[1k] in training', 'FED[use] 10k', 'range of 10k',
            'same best', 'same order', 'offset 1k − 10k (mean ± std)',
            'std of 1k − 10k over the checkpoints']
  lines = ([title, ''] if title else []) + [
      'FED on 1,000 samples during training against FED[use] on 10,000 other samples of '
      'the same checkpoints. Made by `scripts/fed_selection_check.py`.', '',
      *writers.markdown_table(header, body)]
  return '\n'.join(lines) + '\n'


def main(argv=None):
  p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
  p.add_argument('--probe', required=True,
                 help='Comma-separated average_probe.py JSON lines files.')
  p.add_argument('--out', default='', help='Markdown output (default: stdout only).')
  p.add_argument('--title', default='')
  p.add_argument('runs', nargs='+', help='WORKDIR=METRICS_JSONL: a run named in the probe '
                 'files and its training metrics.')
  args = p.parse_args(argv)
  probe = read_probe(args.probe.split(','))
  rows = []
  for spec in args.runs:
    name, sep, path = spec.partition('=')
    if not sep or name not in probe:
      raise SystemExit(f'{spec!r}: expected WORKDIR=METRICS_JSONL with WORKDIR one of '
                       f'{sorted(probe)}')
    rows.append((name, compare(read_training_fed(path), probe[name])))
  text = table(rows, args.title)
  print(text, end='')
  if args.out:
    with open(args.out, 'w', encoding='utf-8') as f:
      f.write(text)


if __name__ == '__main__':
  main()
