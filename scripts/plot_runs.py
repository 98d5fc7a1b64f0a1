"""Plots training curves of runs from their metrics.jsonl files.

  python scripts/plot_runs.py --out results/coco_probes/probes.png \
      --metrics sample_length,disc_prob_fake,valid_nll \
      p1=results/coco_probes/p1_end_zero.jsonl p2=...

Each positional argument is LABEL=PATH (a metrics.jsonl or a workdir holding
one). A metric logged only at evaluations (valid_nll, fed, nll_oracle) is drawn
from the eval rows, the others from the training-log rows.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from scratchgan_jax.writers import read_metrics  # noqa: E402
from scratchgan_jax.writers import pyplot, save_figure  # noqa: E402


def main():
  p = argparse.ArgumentParser(description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument('--out', required=True)
  p.add_argument('--metrics', required=True, help='comma-separated metric names')
  p.add_argument('--title', default='')
  p.add_argument('runs', nargs='+', help='LABEL=PATH')
  a = p.parse_args()
  names = a.metrics.split(',')
  plt = pyplot(required=True)
  fig, axes = plt.subplots(1, len(names), figsize=(4.2 * len(names), 3.2), squeeze=False)
  for spec in a.runs:
    label, path = spec.split('=', 1)
    rows = read_metrics(path)
    for ax, name in zip(axes[0], names):
      pts = [(r['step'], r[name]) for r in rows if name in r]
      if pts:
        ax.plot(*zip(*pts), marker='.', label=label)
  for ax, name in zip(axes[0], names):
    ax.set_xlabel('step')
    ax.set_title(name)
    ax.grid(alpha=0.3)
  axes[0][0].legend(fontsize=8)
  if a.title:
    fig.suptitle(a.title, fontsize=10)
  save_figure(fig, a.out)
  print(a.out)


if __name__ == '__main__':
  main()
