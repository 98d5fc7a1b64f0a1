#!/usr/bin/env python3
"""Quality against diversity on the oracle: NLL-oracle vs NLL-test over temperature.

    python scripts/oracle_tradeoff.py --out=runs/study/tradeoff \
        --mle runs/study/oracle_mle/*_s* --gan runs/study/oracle_scratchgan/*_s* \
        [--points runs/study/sweep_oracle_a/*_s*]

For each run's best checkpoint and each softmax temperature: NLL-oracle (samples
at T scored by the oracle: quality) and NLL-test (held-out oracle data under
the generator at T: coverage). Lower is better for both; MLE traces a curve as
T moves, and a GAN at T = 1 is compared with that curve. `--points` adds runs
at T = 1 only (e.g. a sweep). Writes tradeoff.csv, tradeoff.md, tradeoff.png;
`--report_only` rebuilds the last two from tradeoff.csv.
"""
import argparse
import csv
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from scratchgan_jax import experiment, inference, oracle  # noqa: E402
from scratchgan_jax.sweep import read_csv_rows, sample_std  # noqa: E402
from scratchgan_jax.writers import markdown_table, pyplot, save_figure  # noqa: E402


def measure(workdir, temps, num, seed=0):
  run, params, path = experiment.load_generator(workdir, with_data=True)
  out = []
  for t in temps:
    toks = inference.sample_tokens(run.setup.gen, params, num, seed, t)
    out.append(dict(run=workdir, checkpoint=os.path.basename(path),
                    batch_size=run.cfg.batch_size, temperature=t,
                    nll_oracle=oracle.nll(run.oracle_params, toks),
                    nll_test=inference.token_nll(run.setup.gen, params, run.dataset.valid,
                                                 eos=False, temperature=t)))
  return out


def main():
  p = argparse.ArgumentParser(description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument('--out', required=True)
  p.add_argument('--mle', nargs='*', default=[])
  p.add_argument('--gan', nargs='*', default=[])
  p.add_argument('--points', nargs='*', default=[])
  p.add_argument('--temperatures', default='0.7,0.8,0.9,1.0,1.1,1.2,1.3')
  p.add_argument('--num_samples', type=int, default=2000)
  p.add_argument('--report_only', action='store_true',
                 help='rebuild the table and plot from <out>/tradeoff.csv (no sampling)')
  p.add_argument('--reuse', default='',
                 help='an earlier tradeoff.csv: its runs are copied, not measured again')
  a = p.parse_args()
  temps = [float(t) for t in a.temperatures.split(',')]
  os.makedirs(a.out, exist_ok=True)
  rows = []
  if a.report_only:
    rows = read_csv_rows(os.path.join(a.out, 'tradeoff.csv'))
    temps = sorted({r['temperature'] for r in rows})
  else:
    reused = read_csv_rows(a.reuse) if a.reuse else []
    done = {(r['kind'], r['run']) for r in reused}
    for kind, runs, ts in (('mle', a.mle, temps), ('gan', a.gan, temps), ('point', a.points, [1.0])):
      for wd in runs:
        if (kind, wd) in done:
          rows += [r for r in reused if (r['kind'], r['run']) == (kind, wd)]
          continue
        if not os.path.exists(os.path.join(wd, 'config.json')):
          continue
        rows += [dict(kind=kind, **r) for r in measure(wd, ts, a.num_samples)]
        print(kind, wd, 'done', flush=True)
    with open(os.path.join(a.out, 'tradeoff.csv'), 'w', newline='') as f:
      w = csv.DictWriter(f, fieldnames=list(dict.fromkeys(k for r in rows for k in r)))
      w.writeheader()
      w.writerows(rows)
  table = []
  for kind in ('mle', 'gan'):
    for t in temps:
      rs = [r for r in rows if r['kind'] == kind and r['temperature'] == t]
      if rs:
        o = np.array([r['nll_oracle'] for r in rs])
        n = np.array([r['nll_test'] for r in rs])
        table.append([kind, t, f'{o.mean():.3f} ± {sample_std(o):.3f}',
                      f'{n.mean():.3f} ± {sample_std(n):.3f}', len(rs)])
  lines = markdown_table(['kind', 'T', 'NLL-oracle (mean ± std over runs)', 'NLL-test', 'runs'],
                         table)
  with open(os.path.join(a.out, 'tradeoff.md'), 'w') as f:
    f.write('\n'.join(lines) + '\n')
  print('\n'.join(lines))
  plt = pyplot(required=True)
  fig, ax = plt.subplots(figsize=(5.2, 4))
  styles = {'mle': ('C0', 'o-', 'MLE, T sweep'), 'gan': ('C3', 's--', 'ScratchGAN, T sweep')}
  for kind, (c, st, label) in styles.items():
    for i, wd in enumerate(sorted({r['run'] for r in rows if r['kind'] == kind})):
      rs = sorted((r for r in rows if r['run'] == wd and r['kind'] == kind),
                  key=lambda r: r['temperature'])
      ax.plot([r['nll_test'] for r in rs], [r['nll_oracle'] for r in rs], st, color=c,
              ms=3, alpha=0.8, label=label if i == 0 else None)
      for r in rs:
        if r['temperature'] in (min(temps), 1.0, max(temps)) and i == 0:
          ax.annotate(f'T={r["temperature"]}', (r['nll_test'], r['nll_oracle']), fontsize=7)
  pts = [r for r in rows if r['kind'] == 'point']
  batches = sorted({int(r['batch_size']) for r in pts if r.get('batch_size')})
  if pts and len(batches) > 1:  # a batch sweep: one colour per batch size
    for j, b in enumerate(batches):
      rs = [r for r in pts if r.get('batch_size') and int(r['batch_size']) == b]
      ax.scatter([r['nll_test'] for r in rs], [r['nll_oracle'] for r in rs], s=14,
                 color=plt.cm.viridis(j / max(len(batches) - 1, 1)),
                 label=f'ScratchGAN batch {b}, T=1')
  elif pts:
    ax.scatter([r['nll_test'] for r in pts], [r['nll_oracle'] for r in pts], s=10, c='grey',
               alpha=0.6, label='sweep runs, T=1')
  ax.set_xlabel('NLL-test (held-out data under G), lower = more coverage')
  ax.set_ylabel('NLL-oracle (samples under oracle), lower = better samples')
  ax.legend(fontsize=7)
  ax.grid(alpha=0.3)
  save_figure(fig, os.path.join(a.out, 'tradeoff.png'))


if __name__ == '__main__':
  main()
