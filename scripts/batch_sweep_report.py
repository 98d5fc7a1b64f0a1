"""Oracle sweep B: quality against batch size at equal examples seen.

  python scripts/batch_sweep_report.py --out=results/oracle_sweep_batch \
      --sweep=runs/sweep_oracle_batch [--mle=results/oracle_mle]

Reads a `scripts/sweep.py` folder whose points pair a batch size with the steps
that keep the examples seen (the wall-clock time on CPU) equal, at learning
rates either fixed or scaled with the batch (its results.csv; the run folders
are not needed). Each point's learning-rate rule is read off its flags: `fixed`
when the generator's rate equals the smallest batch's, `sqrt` when it is that
rate times sqrt(batch / smallest batch). Writes batch.md (mean ± sample std over
seeds) and batch.png (final and best NLL-oracle and final NLL-test against the
batch size, one line per rule; the MLE baseline's final values dashed).
"""
import argparse
import math
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from scratchgan_jax import sweep  # noqa: E402
from scratchgan_jax.writers import markdown_table, pyplot, save_figure  # noqa: E402


def lr_rule(batch: int, gen_lr: float, base_batch: int, base_lr: float) -> str:
  if math.isclose(gen_lr, base_lr, rel_tol=0.01):
    return 'fixed'
  if math.isclose(gen_lr, base_lr * math.sqrt(batch / base_batch), rel_tol=0.01):
    return 'sqrt'
  return f'gen_lr {gen_lr:g}'


def main():
  p = argparse.ArgumentParser(description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument('--out', required=True)
  p.add_argument('--sweep', required=True, help='the sweep folder (its results.csv)')
  p.add_argument('--mle', default='', help='a sweep folder of the MLE baseline (dashed lines)')
  a = p.parse_args()
  rows = sweep.read_results_csv(a.sweep)
  if not rows or 'flag.batch_size' not in rows[0]:
    raise SystemExit(f'error: {a.sweep}/results.csv: no runs with a swept batch_size')
  base_batch = min(r['flag.batch_size'] for r in rows)
  base_lr = next(r['flag.gen_lr'] for r in rows if r['flag.batch_size'] == base_batch)
  agg = sweep.aggregate(rows, 'nll_oracle')
  for g in agg:
    g['rule'] = lr_rule(g['flag.batch_size'], g['flag.gen_lr'], base_batch, base_lr)
  agg.sort(key=lambda g: (g['rule'] != 'fixed', g['rule'], g['flag.batch_size']))
  mle = sweep.aggregate(sweep.read_results_csv(a.mle), 'nll_oracle')[0] if a.mle else None

  pm = lambda g, k: f"{g[k]:.3f} ± {g.get(k + '.std', 0.0):.3f}"  # noqa: E731
  rows = []
  for g in agg:
    lrs = f"{g['rule']} (G {g['flag.gen_lr']:.3g}, D {g['flag.disc_lr']:.3g})"
    rows.append([g['flag.batch_size'], g['flag.num_steps'], lrs, g['seeds'],
                 pm(g, 'nll_oracle.final'), pm(g, 'nll_oracle.best'),
                 pm(g, 'final_minus_best'), pm(g, 'nll_test.final'), g['stable'],
                 f"{g['wall_seconds'] / 60:.1f}"])
  if mle:
    rows.append([f'MLE ({a.mle})', '', '', mle['seeds'], pm(mle, 'nll_oracle.final'), '', '',
                 pm(mle, 'nll_test.final'), '', f"{mle['wall_seconds'] / 60:.1f}"])
  md = markdown_table(['batch', 'steps', 'learning rates', 'seeds', 'NLL-oracle final', 'best',
                       'final − best', 'NLL-test final', 'stable', 'minutes'], rows)
  os.makedirs(a.out, exist_ok=True)
  with open(os.path.join(a.out, 'batch.md'), 'w', encoding='utf-8') as f:
    f.write('\n'.join(md) + '\n')
  print('\n'.join(md))

  plt = pyplot()
  if plt is None:
    return
  fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
  panels = ((axes[0], 'nll_oracle', 'NLL-oracle (lower = better samples)'),
            (axes[1], 'nll_test', 'NLL-test (lower = more coverage)'))
  label = {'fixed': 'learning rates fixed', 'sqrt': f'learning rates × sqrt(B/{base_batch})'}
  for i, rule in enumerate(sorted({g['rule'] for g in agg}, key=lambda r: r != 'fixed')):
    # Every rule starts from the smallest batch's point (the same run: factor 1).
    gs = sorted((g for g in agg if g['rule'] == rule
                 or (g['flag.batch_size'] == base_batch and g['rule'] == 'fixed')),
                key=lambda g: g['flag.batch_size'])
    xs = [g['flag.batch_size'] for g in gs]
    for ax, m, _ in panels:
      ax.errorbar(xs, [g[f'{m}.final'] for g in gs], [g[f'{m}.final.std'] for g in gs],
                  fmt='o-', color=f'C{i}', capsize=3, ms=4,
                  label=f"{label.get(rule, rule)}, final")
    axes[0].plot(xs, [g['nll_oracle.best'] for g in gs], 's:', color=f'C{i}', mfc='none',
                 label=f"{label.get(rule, rule)}, best")
  for ax, m, ylabel in panels:
    if mle:
      ax.axhline(mle[f'{m}.final'], color='k', ls='--', lw=1, label='MLE baseline, final')
    ax.set_xscale('log', base=2)
    ax.set_xlabel('batch size (equal examples seen per run)')
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
  axes[0].legend(fontsize=6)
  save_figure(fig, os.path.join(a.out, 'batch.png'))


if __name__ == '__main__':
  main()
