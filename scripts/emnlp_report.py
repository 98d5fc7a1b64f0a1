"""The EMNLP2017 News comparison at CPU scale: ScratchGAN, our MLE and the real
training text at T = 1, and FED against softmax temperature (the shape of the
paper's Fig 3b), as one Markdown table and one plot.

  python scripts/emnlp_report.py --out results/emnlp2017 \
      --gan RUNS/emnlp2017_small_scratchgan --mle RUNS/emnlp2017_small_mle \
      --real RUNS/emnlp2017_real_text

Each of --gan/--mle/--real is a workdir whose eval/metrics.json was written by
`launch.py --mode=evaluate` (--real: the training sentences scored as samples,
`--samples_path`). --gan's eval/sweep.csv (a `--temperatures` sweep with
`--compare_workdir` = the MLE run) gives the two temperature curves. The
paper's curves (Fig 3b, read from the figure; ../shared/reference/paper.md) are
drawn beside ours for their shape only: the paper trains a larger model on the
full 270k-sentence training set for 200k steps.
"""
import os

from coco_report import (fed_value, fmt, load_sweep, markdown_table, parse_runs, pyplot,
                         save_figure, table, write_report)

# Paper Fig 3b (values read from the vector figure, paper.md): FED against T.
PAPER_T = [0.70, 0.75, 0.80, 0.85, 0.90, 0.95, 1.00, 1.05, 1.10, 1.15, 1.20, 1.25, 1.30, 1.35]
PAPER_FED = {
    'ScratchGAN (paper)': [.0565, .0445, .0352, .0278, .0227, .0195, .0186, .0211, .0238,
                           .0284, .0344, .0433, .0517, .0604],
    'MLE (paper)': [.0546, .0422, .0341, .0286, .0231, .0207, .0200, .0213, .0253, .0303,
                    .0367, .0457, .0534, .0644]}


def main():
  a, evals = parse_runs(__doc__)
  md = ['# EMNLP2017 News (12.5k-sentence subset): ScratchGAN against MLE and the real text',
        '', 'FED[use] and BLEU against the 10k validation sentences; Self-BLEU among '
        'the samples; length in tokens; copies: samples that are training sentences.',
        ''] + table(evals)
  runs, rows, fed_key = load_sweep(a.gan, a.out)
  # --gan's curve comes first, then --mle's (the --compare_workdir).
  names = dict(zip(runs, ['ScratchGAN', 'MLE']))
  for r in rows:
    r['run'] = names.get(r['run'], r['run'])
  runs = [names.get(r, r) for r in runs]
  temps = sorted({float(r['temperature']) for r in rows})
  by = {(r['run'], float(r['temperature'])): r for r in rows}

  def fed_of(run, t):
    r = by.get((run, t))
    return float(r[fed_key]) if r is not None and fed_key and r.get(fed_key) else None

  md += ['', '## FED against temperature', ''] + markdown_table(
      ['T'] + runs, [[f'{t:g}'] + [fmt(fed_of(run, t)) for run in runs] for t in temps])
  best = {run: min(((fed_of(run, t), t) for t in temps if fed_of(run, t) is not None),
                   default=(None, None)) for run in runs}
  md += [''] + [f'Best FED of {run}: {fmt(v)} at T = {t:g}' for run, (v, t) in best.items()
                if v is not None]
  plt = pyplot()
  if plt is not None and fed_key:
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.6))
    for run in runs:
      pts = [(t, fed_of(run, t)) for t in temps if fed_of(run, t) is not None]
      axes[0].plot(*zip(*pts), 'o-', label=run)
    real_fed = fed_value(evals['training text'])
    if real_fed is not None:
      axes[0].axhline(real_fed, color='k', ls=':', label='training text')
    axes[0].set_title('ours: 12.5k sentences, CPU scale', fontsize=9)
    for name, fed in PAPER_FED.items():
      axes[1].plot(PAPER_T, fed, 's--', ms=3, label=name)
    axes[1].set_title('paper Fig 3b (read from the figure)', fontsize=9)
    for ax in axes:
      ax.set_xlabel('softmax temperature')
      ax.set_ylabel('FED[use] against validation (lower: better)')
      ax.legend(fontsize=7)
      ax.grid(alpha=0.3)
    save_figure(fig, os.path.join(a.out, 'fed_vs_temperature.png'))
    md += ['', '![FED against temperature](fed_vs_temperature.png)']
  write_report(a.out, 'emnlp2017.md', md, gan=a.gan, mle=a.mle, real=a.real)


if __name__ == '__main__':
  main()
