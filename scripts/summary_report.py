#!/usr/bin/env python3
"""The README's one table: ScratchGAN against MLE (same generator) on each
benchmark, mean ± sample std (n - 1) over seeds, from the committed files.

    python scripts/summary_report.py --out results/summary.md
    python scripts/render_results.py      # puts it into README.md

Oracle: the final (step 1,000) evaluation of each seed's training log
(`results/oracle_default/fast_sampler_s*_metrics.jsonl`) and the MLE sweep's
`results/oracle_mle/results.csv`. COCO and EMNLP2017: `--mode=evaluate` of each
seed's best checkpoint (10,000 samples at T = 1): the shipped flagfiles' runs
(COCO 4,800 steps, EMNLP2017 4,800 steps with the prefix baseline) and the
shorter or other settings they replaced (`results/beyond_paper/{coco,emnlp2017}/`;
the first flagfiles' 1,200-step runs in `results/{coco,emnlp2017}/`).
"""
import argparse
import csv
import glob
import json
import os
import sys

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
from scratchgan_jax.sweep import sample_std  # noqa: E402
from scratchgan_jax.writers import markdown_table  # noqa: E402


def cell(values, digits):
  return f'{np.mean(values):.{digits}f} ± {sample_std(values):.{digits}f} ({len(values)})'


def final_eval(path, key):
  rows = [json.loads(l) for l in open(path, encoding='utf-8') if l.strip()]
  evals = [r for r in rows if r.get('eval') and key in r]
  return evals[-1][key]


def oracle_rows():
  gan = sorted(glob.glob(os.path.join(REPO, 'results/oracle_default/fast_sampler_s*_metrics.jsonl')))
  with open(os.path.join(REPO, 'results/oracle_mle/results.csv'), encoding='utf-8') as f:
    mle = list(csv.DictReader(f))
  out = []
  for key, name in (('nll_oracle', 'NLL-oracle of samples'), ('nll_test', 'NLL-test (coverage)')):
    g = [final_eval(p, key) for p in gan]
    m = [float(r[f'{key}.final']) for r in mle]
    out.append(('oracle (synthetic LSTM)', name, g, m, 2, 'nats', '`results/oracle_default/`, '
                '`results/oracle_mle/`'))
  return out


def fed(path):
  with open(os.path.join(REPO, path), encoding='utf-8') as f:
    return json.load(f)['fed[use]']['value']


# The MLE runs every EMNLP2017 row is compared with (relative to results/beyond_paper/emnlp2017).
EMNLP_MLE = ['../../emnlp2017/mle_metrics.json', '../../emnlp2017/mle_seed1_metrics.json',
             '../../emnlp2017/mle_seed2_metrics.json']


# The MLE runs every COCO row is compared with (relative to results/beyond_paper/coco).
COCO_MLE = ['../../coco/mle_metrics.json', '../../coco/mle_seed1_metrics.json',
            '../../coco/mle_seed2_metrics.json']


def text_row(bench, d, gan, mle, files=''):
  return (bench, 'FED[use], best checkpoint', [fed(f'{d}/{x}') for x in gan],
          [fed(f'{d}/{x}') for x in mle], 3, 'ratio', files or f'`{d}/`')


def main(argv=None):
  p = argparse.ArgumentParser(description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument('--out', default='', help='Markdown file (default: stdout)')
  a = p.parse_args(argv)
  rows = oracle_rows() + [
      text_row('COCO captions', 'results/beyond_paper/coco',
               [f'steps4800_s{s}_eval_metrics.json' for s in range(3)], COCO_MLE,
               '`results/beyond_paper/coco/prefix_eval.md`'),
      text_row('COCO, 1,200 steps', 'results/coco',
               ['gan_metrics.json', 'gan_seed1_metrics.json', 'gan_seed2_metrics.json'],
               [f.replace('../../coco/', '') for f in COCO_MLE]),
      text_row('COCO, 1,200 steps, with the prefix baseline (not shipped)', 'results/beyond_paper/coco',
               ['prefix_s0_eval_metrics.json', 'prefix_s1_eval_metrics.json',
                'prefix_s2_eval_metrics.json'],
               COCO_MLE, '`results/beyond_paper/coco/prefix_eval.md`'),
      text_row('EMNLP2017 News, 12.5k subset', 'results/beyond_paper/emnlp2017',
               [f'prefix4800_s{s}_eval_metrics.json' for s in range(3)], EMNLP_MLE,
               '`results/beyond_paper/emnlp2017/prefix_eval.md`'),
      text_row('EMNLP2017, 2,400 steps', 'results/beyond_paper/emnlp2017',
               [f'prefix2400_s{s}_eval_metrics.json' for s in range(3)], EMNLP_MLE,
               '`results/beyond_paper/emnlp2017/prefix_eval.md`'),
      text_row('EMNLP2017, 1,200 steps', 'results/beyond_paper/emnlp2017',
               [f'prefix_s{s}_eval_metrics.json' for s in range(3)], EMNLP_MLE,
               '`results/beyond_paper/emnlp2017/prefix_eval.md`'),
      text_row("EMNLP2017, 1,200 steps, the paper's scalar baseline", 'results/emnlp2017',
               ['gan_metrics.json', 'gan_seed1_metrics.json', 'gan_seed2_metrics.json'],
               [f.replace('../../emnlp2017/', '') for f in EMNLP_MLE])]
  lines = ['# ScratchGAN against MLE at CPU scale', '',
           'Mean ± sample std (n − 1), the number of seeds in brackets; T = 1.', '']
  table = []
  for bench, metric, g, m, digits, gap, files in rows:
    gap = (f'+{np.mean(g) - np.mean(m):.2f} nats' if gap == 'nats'
           else f'{np.mean(g) / np.mean(m):.2f}×')
    table.append([bench, metric, cell(g, digits), cell(m, digits), gap, files])
  lines += markdown_table(['benchmark', 'metric (lower is better)', 'ScratchGAN (seeds)',
                           'MLE (seeds)', 'gap to MLE', 'files'], table)
  text = '\n'.join(lines) + '\n'
  if a.out:
    with open(a.out, 'w', encoding='utf-8') as f:
      f.write(text)
  else:
    sys.stdout.write(text)
  return 0


if __name__ == '__main__':
  sys.exit(main())
