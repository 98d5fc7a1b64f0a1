"""Seed spread of evaluations at one temperature: mean ± std over seeds, and
every seed, for each model, as one Markdown table.

  python scripts/seeds_report.py --out results/coco/seeds.md --title "COCO, T = 1" \
      ScratchGAN=results/coco/gan_metrics.json,results/coco/gan_seed1_metrics.json \
      MLE=results/coco/mle_metrics.json,results/coco/mle_seed1_metrics.json

Each NAME=FILE,FILE,... names one model's evaluations (one per training seed):
`eval/metrics.json` files written by `launch.py --mode=evaluate`, or workdirs
holding one. Standard deviations use n - 1 (the sample std over seeds), as every
table of RESULTS.md. A metric missing from a file is left out of its mean and
shown as –.
"""
import argparse
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from scratchgan_jax.evaluate import fed_value  # noqa: E402
from scratchgan_jax.sweep import sample_std  # noqa: E402
from scratchgan_jax.writers import markdown_table  # noqa: E402

COLUMNS = [('FED', fed_value)]
COLUMNS += [(f'BLEU-{n}', lambda m, n=n: m.get('bleu', {}).get(f'bleu{n}')) for n in (2, 3, 4, 5)]
COLUMNS += [(f'SBLEU-{n}', lambda m, n=n: m.get('self_bleu', {}).get(f'self_bleu{n}'))
            for n in (2, 5)]
COLUMNS += [('valid NLL', lambda m: m.get('valid_nll')),
            ('length', lambda m: m.get('length', {}).get('samples_mean')),
            ('longest match', lambda m: m.get('novelty', {}).get('mean_longest_match'))]


def load(path):
  if os.path.isdir(path):
    path = os.path.join(path, 'eval', 'metrics.json')
  try:
    with open(path, encoding='utf-8') as f:
      return json.load(f)
  except (OSError, ValueError) as e:
    sys.exit(f'error: {path}: {e}')


def _num(v):
  return f'{v:.3f}' if v is not None else '–'


def summary_cells(evals):
  """'mean ± std' of each column over the evaluations (the values present)."""
  cells = []
  for _, get in COLUMNS:
    vals = [get(m) for m in evals]
    vals = [float(v) for v in vals if v is not None]
    if not vals:
      cells.append('–')
    elif len(vals) == 1:
      cells.append(_num(vals[0]))
    else:
      cells.append(f'{np.mean(vals):.3f} ± {sample_std(vals):.3f}')
  return cells


def report(groups: dict, title: str) -> list[str]:
  head = ['model', 'seeds'] + [name for name, _ in COLUMNS]
  evals = {name: [(f, load(f)) for f in files] for name, files in groups.items()}
  rows = [[f'**{name}**', len(runs)] + summary_cells([m for _, m in runs])
          for name, runs in evals.items()]
  rows += [[f'{name}: `{os.path.basename(os.path.normpath(f))}`', 1]
           + [_num(get(m)) for _, get in COLUMNS] for name, runs in evals.items() for f, m in runs]
  return ([f'# {title}', '', 'Mean ± std over seeds (n - 1), then each seed.', '']
          + markdown_table(head, rows))


def main():
  p = argparse.ArgumentParser(description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument('--out', required=True, help='the Markdown file to write')
  p.add_argument('--title', default='Seed spread')
  p.add_argument('groups', nargs='+', help='NAME=FILE,FILE,...')
  a = p.parse_args()
  groups = {}
  for g in a.groups:
    name, sep, files = g.partition('=')
    if not sep or not files:
      p.error(f'{g!r}: expected NAME=FILE,FILE,...')
    groups[name] = files.split(',')
  md = report(groups, a.title)
  os.makedirs(os.path.dirname(a.out) or '.', exist_ok=True)
  with open(a.out, 'w', encoding='utf-8') as f:
    f.write('\n'.join(md) + '\n')
  print('\n'.join(md))


if __name__ == '__main__':
  main()
