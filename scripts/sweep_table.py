"""Temperature sweeps of several runs as one Markdown table: for each setting
and temperature, BLEU-5, Self-BLEU-5 and FED over the setting's runs (mean ±
sample std, n - 1), then each run's row.

Each input is `LABEL=FILE[,FILE...]`, a FILE being the `eval/sweep.csv` of a
`launch.py --mode=evaluate --temperatures=...`: its first run, or the run
named after a colon (`sweep.csv:coco_mle`, for the run drawn with
`--compare_workdir`).

    python scripts/sweep_table.py --out=table.md \
        "4,800 steps=run_s0/eval/sweep.csv,run_s1/eval/sweep.csv"
"""
from __future__ import annotations

import argparse
import csv
import os

import numpy as np

from scratchgan_jax.sweep import sample_std
from scratchgan_jax.writers import markdown_table

COLUMNS = (('BLEU-5', 'bleu5'), ('Self-BLEU-5', 'self_bleu5'), ('FED', 'fed'))


def read_sweep(path: str) -> dict[float, dict[str, float]]:
  """temperature -> {bleu5, self_bleu5, fed} (those the sweep measured) of
  the file's first run, or of the run named in `path`'s `:RUN` suffix."""
  path, _, run = path.partition(':')
  with open(path, encoding='utf-8') as f:
    rows = list(csv.DictReader(f))
  first = run or (rows[0]['run'] if rows else '')
  if not any(r['run'] == first for r in rows):
    raise ValueError(f'{path}: no rows of run {first!r}')
  fed_key = next((k for k in rows[0] if k.startswith('fed[') and k.endswith('/value')), None)
  out = {}
  for r in rows:
    if r['run'] != first:
      continue
    # A sweep measures some of the three (`--metrics=fed` alone on EMNLP2017);
    # a metric it did not measure shows as a dash.
    vals = {k: float(r[k]) for k in ('bleu5', 'self_bleu5') if r.get(k)}
    if fed_key and r.get(fed_key):
      vals['fed'] = float(r[fed_key])
    out[float(r['temperature'])] = vals
  return out


def _cell(xs: list[float]) -> str:
  if not xs:
    return '–'
  if len(xs) == 1:
    return f'{xs[0]:.3f}'
  return f'{np.mean(xs):.3f} ± {sample_std(xs):.3f}'


def table(groups: list[tuple[str, list[str]]], title: str = '') -> str:
  header = ['setting', 'T', 'runs'] + [c for c, _ in COLUMNS]
  summary, single = [], []
  for label, paths in groups:
    sweeps = [(p, read_sweep(p)) for p in paths]
    temps = sorted({t for _, s in sweeps for t in s})
    for t in temps:
      at = [s[t] for _, s in sweeps if t in s]
      summary.append([f'**{label}**', f'{t:g}', str(len(at))] +
                     [_cell([v[k] for v in at if k in v]) for _, k in COLUMNS])
    for p, s in sweeps:
      name = os.path.basename(p.partition(':')[0]) + (
          f" ({p.partition(':')[2]})" if ':' in p else '')
      for t in sorted(s):
        single.append([f'{label}: `{name}`', f'{t:g}', '1'] +
                      [_cell([s[t][k]] if k in s[t] else []) for _, k in COLUMNS])
  lines = ([title, ''] if title else []) + [
      'Mean ± sample std (n - 1) over runs, then each run. Made by `scripts/sweep_table.py`.',
      ''] + markdown_table(header, summary + single)
  return '\n'.join(lines) + '\n'


def main(argv=None):
  p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
  p.add_argument('groups', nargs='+', metavar='LABEL=FILE[,FILE...]')
  p.add_argument('--out', default='', help='Markdown output (default: stdout only).')
  p.add_argument('--title', default='', help='A line above the table.')
  a = p.parse_args(argv)
  groups = []
  for arg in a.groups:
    label, sep, files = arg.rpartition('=')
    if not sep or not label or not files:
      p.error(f'{arg!r}: expected LABEL=FILE[,FILE...]')
    groups.append((label, [f for f in files.split(',') if f]))
  md = table(groups, a.title)
  if a.out:
    with open(a.out, 'w', encoding='utf-8') as f:
      f.write(md)
  print(md, end='')


if __name__ == '__main__':
  main()
