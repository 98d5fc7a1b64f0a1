#!/usr/bin/env python3
"""One table and one plot comparing training runs, setting by setting, from
their committed metrics.jsonl files (the beyond-the-paper candidates).

  python scripts/candidates_report.py --out results/beyond_paper/oracle \
      default=results/oracle_default/fast_sampler_s*_metrics.jsonl \
      position=results/beyond_paper/oracle/position_s*_metrics.jsonl

Each positional argument is LABEL=GLOB (one metrics.jsonl per seed). Per
label: the number of seeds, the final and best --metric over the run's
evaluations, the final and the worst (highest) --second over the evaluations
(an early collapse the run recovers from shows there), the last step, the training minutes (from the
logged steps_per_s; evaluation time not included) and the discriminator's mean
D(fake) from --late_step on, as mean ± sample std (n - 1) over seeds, and the
range of the logged mean sample length from --late_step on over all seeds.
With --per_seed, one row per file follows the summary rows (the step of the
best evaluation in brackets). Writes <out>/<name>.md and <out>/<name>.png
(--name, default 'candidates'; the plot of the default name is curves.png).
"""
import argparse
import glob
import math
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from scratchgan_jax.sweep import sample_std  # noqa: E402
from scratchgan_jax.writers import read_metrics  # noqa: E402
from scratchgan_jax.writers import markdown_table, pyplot, save_figure  # noqa: E402


def run_stats(path, metric, second, late_step):
  rows = read_metrics(path)
  evals = [r for r in rows if r.get('eval') and metric in r]
  train = [r for r in rows if not r.get('eval') and 'steps_per_s' in r]
  seconds, prev = 0.0, 0
  for r in train:
    seconds += (r['step'] - prev) / max(r['steps_per_s'], 1e-9)
    prev = r['step']
  late = [r for r in train if r['step'] >= late_step and 'disc_prob_fake' in r]
  d_fake = sum(r['disc_prob_fake'] for r in late) / len(late) if late else float('nan')
  lengths = [r['sample_length'] for r in late] or [float('nan')]
  best = min(evals, key=lambda e: e[metric])
  return {'final': evals[-1][metric], 'best': best[metric], 'best_step': best['step'],
          'd_fake': d_fake, 'len_lo': min(lengths), 'len_hi': max(lengths),
          'second': evals[-1].get(second, float('nan')), 'step': evals[-1]['step'],
          # An early collapse the run recovers from shows here, not in the final value.
          'worst_second': max(e.get(second, float('nan')) for e in evals),
          'minutes': seconds / 60, 'curve': [(e['step'], e[metric]) for e in evals]}


def fmt(values, digits):
  mean = sum(values) / len(values)
  if len(values) < 2:
    return f'{mean:.{digits}f}'
  return f'{mean:.{digits}f} ± {sample_std(values):.{digits}f}'


def main(argv=None):
  p = argparse.ArgumentParser(description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument('--out', required=True)
  p.add_argument('--metric', default='nll_oracle', help='lower is better')
  p.add_argument('--second', default='nll_test')
  p.add_argument('--title', default='')
  p.add_argument('--late_step', type=int, default=600,
                 help='D(fake) and the sample-length range are read from this step on')
  p.add_argument('--digits', type=int, default=None,
                 help="decimals of --metric and --second (default: 3 for fed, else 2; 2 for --second)")
  p.add_argument('--per_seed', action='store_true', help='one more row per file')
  p.add_argument('--name', default='candidates', help='stem of the .md and .png written')
  p.add_argument('settings', nargs='+', help='LABEL=GLOB[,GLOB...] of metrics.jsonl files (split at the last =)')
  a = p.parse_args(argv)
  table = []
  for s in a.settings:
    label, _, pattern = s.rpartition('=')  # labels may hold '=', paths do not
    files = []
    for pat in pattern.split(','):  # each glob must match: a typo would drop seeds silently
      matched = glob.glob(pat)
      if not matched:
        p.error(f'{s}: no file matches {pat}')
      files += matched
    files.sort()
    table.append((label, files, [run_stats(f, a.metric, a.second, a.late_step) for f in files]))
  os.makedirs(a.out, exist_ok=True)
  d = a.digits if a.digits is not None else (3 if a.metric == 'fed' else 2)
  d2 = a.digits if a.digits is not None else 2
  lines = [f'# {a.title or "Candidates"}', '',
           'Mean ± sample std (n - 1) over seeds; lower is better. Made by '
           '`scripts/candidates_report.py` from the files listed.', '']
  def row(label, st, files, seeded=False):
    best = fmt([x['best'] for x in st], d)
    if seeded:
      best += f" ({st[0]['best_step']})"
    return [label, len(st), fmt([x['final'] for x in st], d), best,
            fmt([x['second'] for x in st], d2), fmt([x['worst_second'] for x in st], d2),
            fmt([x['step'] for x in st], 0), fmt([x['minutes'] for x in st], 1),
            # '–' for a run without a discriminator (an MLE control)
            '–' if all(math.isnan(x['d_fake']) for x in st) else fmt([x['d_fake'] for x in st], 2),
            '–' if all(math.isnan(x['len_lo']) for x in st) else
            f'{min(x["len_lo"] for x in st):.0f}-{max(x["len_hi"] for x in st):.0f}',
            ', '.join(f'`{os.path.relpath(f)}`' for f in files)]
  rows = [row(label, st, files) for label, files, st in table]
  if a.per_seed:
    rows += [row(f'{label}: `{os.path.basename(f)}`', [x], [f], seeded=True)
             for label, files, st in table for f, x in zip(files, st)]
  lines += markdown_table(
      ['setting', 'seeds', f'final {a.metric}', f'best {a.metric}', f'final {a.second}',
       f'worst {a.second}', 'steps', 'training min', f'D(fake) from step {a.late_step}',
       f'sample length from step {a.late_step} (min-max)', 'files'], rows)
  with open(os.path.join(a.out, a.name + '.md'), 'w', encoding='utf-8') as f:
    f.write('\n'.join(lines) + '\n')
  plt = pyplot()
  if plt is None:
    print('matplotlib not installed: no curves.png (pip install matplotlib)', file=sys.stderr)
  else:
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for i, (label, _, st) in enumerate(table):
      for j, x in enumerate(st):
        steps, vals = zip(*x['curve'])
        ax.plot(steps, vals, color=f'C{i}', alpha=0.8, label=label if j == 0 else None)
    ax.set_xlabel('step')
    ax.set_ylabel(a.metric)
    ax.set_title(a.title or 'Candidates', fontsize=10)
    ax.legend(fontsize=8)
    save_figure(fig, os.path.join(a.out, 'curves.png' if a.name == 'candidates' else a.name + '.png'),
                dpi=110)
  print('\n'.join(lines))


if __name__ == '__main__':
  sys.exit(main())
