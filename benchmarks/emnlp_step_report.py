#!/usr/bin/env python3
"""The emnlp2017-small step, this code against an older commit, and where its
time goes: two Markdown tables from the rows `cpu_suite.sh OUT emnlp` wrote.

    python benchmarks/emnlp_step_report.py   # writes benchmarks/results/emnlp_step.md

Table 1 takes the latest suite run of the emnlp2017-small preset (its last six
`step_time` rows: three rounds of two commits, alternating) and compares the median
step of each commit; table 2 is the latest `--breakdown` row of the preset.
"""
import json
import os
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
from scratchgan_jax.writers import markdown_table  # noqa: E402

RESULTS = os.path.join(ROOT, 'benchmarks', 'results')
PRESET = 'emnlp2017-small'
ROUNDS = 3  # cpu_suite.sh emnlp: three alternating rounds
PARTS = [  # (key, what it is, counted in the step's sum of parts)
    ('sample', 'one sampling pass of B rows (the step draws 2B in one pass)', False),
    ('disc_fwd_bwd_real_and_fake', 'discriminator forward + backward, real and fake', True),
    ('disc_fwd', 'discriminator forward for the rewards', True),
    ('gen_rescore_fwd_bwd', 'generator rescoring, forward + backward', True),
    ('rescore_vocab_fwd_bwd', '  of which the vocabulary half (log-softmax over V, token pick)', False),
    ('rescore_lstm_fwd_bwd', '  of which the rest (embedding, LSTM over T steps), by difference',
     False),
    ('vocab_exp_pass', 'for scale: one exp over a [B*T, V] float32 array', False),
    ('vocab_blocked_fwd_bwd', 'tried: the vocabulary half in cache-sized row blocks', False),
]


def rows_of(name):
  path = os.path.join(RESULTS, name)
  if not os.path.exists(path):
    return []
  with open(path, encoding='utf-8') as f:
    return [json.loads(l) for l in f if l.strip()]


def comparison():
  rows = [r for r in rows_of('step_time_cpu.jsonl')
          if r.get('preset') == PRESET and r.get('benchmark') == 'step_time' and r.get('date')]
  rows = rows[-2 * ROUNDS:]  # the latest suite run: ROUNDS rounds of two commits
  if not rows:
    return None
  by = {}
  for r in rows:
    by.setdefault(r['commit'], []).append(r['step_ms'])
  # Rows timed with --code=OLD record this checkout as script_commit; the others are it.
  new = next((r['commit'] for r in rows if not r.get('script_commit')), None)
  table = []
  med = {c: float(np.median(v)) for c, v in by.items()}
  for c, v in by.items():
    ratio = med[c] / med[new] if new and c != new else 1.0
    table.append([f'`{c}`' + (' (this code)' if c == new else ''), len(v),
                  ', '.join(f'{x:,.0f}' for x in v), f'{med[c]:,.0f}',
                  f'{1e3 / med[c]:.2f}', f'{ratio:.2f}×'])
  r0 = rows[0]
  head = (f'{r0["cpu_model"]}, {r0["cpus"]} cores, jax {r0["jax"]}, {r0["date"][:10]}; '
          f'{r0["timed_steps"]} timed steps per round, rounds alternating')
  return head, markdown_table(['code', 'rounds', 'ms per step, each round', 'median ms',
                               'steps/s', 'this code is faster by'], table)


def parts():
  rows = [r for r in rows_of('step_breakdown_cpu.jsonl')
          if r.get('preset') == PRESET and 'rescore_vocab_fwd_bwd_ms' in r]
  if not rows:
    return None
  r = rows[-1]
  total = (2 * r['sample_ms'] + sum(r[k + '_ms'] for k, _, counted in PARTS if counted))
  table = []
  for key, what, counted in PARTS:
    ms = r[key + '_ms'] * (2 if key == 'sample' else 1)
    share = '' if key.startswith('vocab_') else f'{100 * ms / total:.0f}%'  # not step parts
    gf = r.get(key + '_gflops_per_s')
    table.append([what if key != 'sample' else 'sampling, 2 × one pass of B rows',
                  f'{ms:,.0f}', share, '' if gf is None else f'{gf:.0f}'])
  head = (f'`{r["command"]}` at `{r["commit"]}`, {r["cpu_model"]}, {r["cpus"]} cores, '
          f'jax {r["jax"]}, {r.get("date", "")[:10]}; shares of the sum of parts, '
          f'{total:,.0f} ms')
  return head, markdown_table(['part', 'ms', 'share', 'GFLOP/s (matmuls)'], table)


def main():
  lines = ['# The emnlp2017-small step', '']
  c = comparison()
  if c:
    lines += [c[0] + ':', ''] + c[1] + ['']
  p = parts()
  if p:
    lines += [p[0] + ':', ''] + p[1]
  with open(os.path.join(RESULTS, 'emnlp_step.md'), 'w', encoding='utf-8') as f:
    f.write('\n'.join(lines).rstrip('\n') + '\n')
  print('\n'.join(lines))
  return 0


if __name__ == '__main__':
  sys.exit(main())
