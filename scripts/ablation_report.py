"""The ablation waterfall (paper Fig 3c) from one sweep folder per step.

  python scripts/ablation_report.py --out results/ablation_oracle \
      RUNS/0_seqgan_step RUNS/1_large_batch RUNS/2_disc_reg RUNS/3_baseline

Each positional argument is a `scripts/sweep.py` folder (its results.csv: one
row per seed) of one step of the waterfall, in order; the step's name is the
folder's name. Writes ablation.md (mean ± std over seeds of the final and best
values of --metric and of --second, the worst --second over the run's
evaluations (read from each run's metrics.jsonl: an early collapse that the run
recovers from shows there, not in the final value), and the change from the
step before) and ablation.png (bars with the seeds' standard deviation as
error bars, each seed's value as a dot); --name picks another stem for both.
Where a step's run folders are gone (only its results.csv is kept), its worst
--second is '–' and the plot leaves that panel out.
"""
import argparse
import csv
import math
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from scratchgan_jax.sweep import sample_std  # noqa: E402
from scratchgan_jax.writers import read_metrics  # noqa: E402
from scratchgan_jax.writers import markdown_table, pyplot, save_figure  # noqa: E402


def _stats(values):
  return (sum(values) / len(values), sample_std(values))


def main():
  p = argparse.ArgumentParser(description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument('--out', required=True)
  p.add_argument('--metric', default='nll_oracle', help='lower is better')
  p.add_argument('--second', default='nll_test')
  p.add_argument('--title', default='Ablation waterfall')
  p.add_argument('--name', default='ablation', help='stem of the .md and .png written')
  p.add_argument('steps', nargs='+', help='sweep folders, in the order of the waterfall')
  a = p.parse_args()
  os.makedirs(a.out, exist_ok=True)
  table, names = [], []
  for d in a.steps:
    path = os.path.join(d, 'results.csv')
    if not os.path.exists(path):
      raise SystemExit(f'error: {path}: not found (run the sweep of this step first)')
    with open(path, encoding='utf-8') as f:
      rows = list(csv.DictReader(f))
    if not rows:
      raise SystemExit(f'error: {path}: no finished runs')
    name = os.path.basename(os.path.normpath(d))
    names.append(name)
    col = lambda k: [float(r[k]) for r in rows]  # noqa: E731
    worst = []
    for r in rows:
      evals = [m[a.second] for m in read_metrics(r['workdir']) if a.second in m]
      worst.append(max(evals) if evals else float('nan'))
    table.append({'name': name, 'seeds': [int(r['seed']) for r in rows],
                  'final': col(f'{a.metric}.final'), 'best': col(f'{a.metric}.best'),
                  'second': col(f'{a.second}.final'), 'worst': worst,
                  # NaN: a run's metrics.jsonl is gone (only results.csv was kept).
                  'has_worst': not any(math.isnan(w) for w in worst),
                  'stable': sum(r['stable'] == 'True' for r in rows),
                  'minutes': _stats([float(r['wall_seconds']) / 60 for r in rows])[0]})
  md = [f'# {a.title}', '',
        f'Mean ± std over seeds; `{a.metric}` and `{a.second}` at the last step; '
        'change: the mean final value minus the step before (negative: better); '
        '"stable": seeds whose final value is within 0.15 of their best.', '']
  rows, prev = [], None
  for t in table:
    m, s = _stats(t['final'])
    bm, bs = _stats(t['best'])
    sm, ss = _stats(t['second'])
    worst_cell = '{:.3f} ± {:.3f}'.format(*_stats(t['worst'])) if t['has_worst'] else '–'
    change = '–' if prev is None else f'{m - prev:+.3f}'
    rows.append([t['name'], len(t['seeds']), f'{m:.3f} ± {s:.3f}', change,
                 f'{bm:.3f} ± {bs:.3f}', f'{sm:.3f} ± {ss:.3f}', worst_cell,
                 f"{t['stable']}/{len(t['seeds'])}", f"{t['minutes']:.1f}"])
    prev = m
  md += markdown_table(['step', 'seeds', f'{a.metric} final', 'change', f'{a.metric} best',
                        f'{a.second} final', f'{a.second} worst', 'stable', 'minutes per run'],
                       rows)
  plt = pyplot()
  if plt is not None:
    panels = [('final', f'{a.metric} (final)'), ('second', f'{a.second} (final)')]
    if all(t['has_worst'] for t in table):
      panels.append(('worst', f'{a.second} (worst evaluation)'))
    fig, axes = plt.subplots(1, len(panels), figsize=(4 * len(panels), 3.6))
    xs = range(len(table))
    for ax, (key, label) in zip(axes, panels):
      means = [_stats(t[key])[0] for t in table]
      stds = [_stats(t[key])[1] for t in table]
      ax.bar(xs, means, yerr=stds, capsize=4, color='tab:blue', alpha=0.6)
      for i, t in enumerate(table):
        ax.plot([i] * len(t[key]), t[key], 'k.', ms=4)
      lo = min(min(t[key]) for t in table)
      hi = max(max(t[key]) for t in table)
      ax.set_ylim(lo - 0.3 * (hi - lo + 1e-3), hi + 0.3 * (hi - lo + 1e-3))
      ax.set_xticks(list(xs))
      ax.set_xticklabels(names, rotation=20, fontsize=7)
      ax.set_ylabel(label + ' (lower: better)', fontsize=8)
      ax.grid(alpha=0.3, axis='y')
    fig.suptitle(a.title, fontsize=9)
    save_figure(fig, os.path.join(a.out, a.name + '.png'))
    md += ['', f'![{a.name}]({a.name}.png)']
  with open(os.path.join(a.out, a.name + '.md'), 'w', encoding='utf-8') as f:
    f.write('\n'.join(md) + '\n')
  print('\n'.join(md))


if __name__ == '__main__':
  main()
