#!/usr/bin/env python3
"""The update-step tables and plots of BENCHMARKS.md, from the rows the
benchmarks wrote (`benchmarks/results/*.jsonl`), each table headed by the
commit, date, machine and library versions its rows record.

    python benchmarks/step_report.py   # writes benchmarks/results/{step_cpu,emnlp_step,step_gpu}.md and the PNGs

step_cpu.md
  1. the cpu-bench step against PyTorch: the latest `cpu_suite.sh bench` run (the
     three alternating rounds of one commit, step_time_cpu.jsonl and
     torch_step_cpu.jsonl), median over median;
  2. the paper preset over the batch size on the CPU: the latest commit's
     `cpu_suite.sh sweep` rows (batch_sweep_cpu.png);
  3. simulated CPU devices: the latest `cpu_suite.sh scaling` run (8 rows).
emnlp_step.md
  the emnlp2017-small step, this code against an older commit (the latest
  `cpu_suite.sh emnlp` run: three alternating rounds of two commits, median
  against median), and where its time goes (the latest `--breakdown` row).
step_gpu.md
  the paper preset on one GPU: the latest row of each setting and batch in
  step_time_gpu.jsonl (batch_sweep_gpu.png).

Rows written before the benchmarks recorded their commit and date say so in
the header ("not recorded"); such a table is remeasured by rerunning its
command, never by editing a row.
"""
import json
import os
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
from scratchgan_jax.writers import markdown_table, pyplot, save_figure  # noqa: E402

RESULTS = os.path.join(ROOT, 'benchmarks', 'results')
GIB = 2 ** 30
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


def provenance(r, libs=('jax',)):
  """Where a row comes from, as its benchmark recorded it."""
  commit = f'`{r["commit"]}`' if r.get('commit') else 'commit not recorded'
  date = r['date'][:10] if r.get('date') else 'date not recorded'
  machine = r.get('device_kind') if r.get('platform') == 'gpu' else None
  machine = machine or r.get('cpu_model') or f'{r.get("machine", "?")} (CPU model not recorded)'
  versions = ', '.join(f'{k} {r[k]}' for k in libs if r.get(k))
  return f'{commit}, {date}, {machine}, {r.get("cpus", "?")} CPU cores' + (
      f', {versions}' if versions else '')


def label(r):
  """The setting of a paper-preset row: chunking, dtype, vocabulary, cold or warm."""
  dt = '' if r.get('compute_dtype', 'float32') == 'float32' else ' bf16'
  v = '' if r.get('vocab', 5700) == 5700 else f', vocabulary {r["vocab"]:,}'
  if r.get('auto_chunks'):
    kind = 'automatic'
  elif '--microbatch' in r.get('command', ''):  # batch = microbatch is one chunk too
    kind = f'microbatch {r["microbatch"]}'
  elif r['grad_chunks'] == 1:
    kind = 'one chunk'
  else:
    kind = f'microbatch {r["microbatch"]}'
  cold = ', cold' if r.get('warmup') is False else ''  # the first call after compiling
  return kind + dt + v + cold


def _step_rows(name, preset):
  return [r for r in rows_of(name) if r.get('benchmark') == 'step_time'
          and r.get('preset') == preset and not r.get('failed') and 'step_ms' in r]


def against_torch():
  """The latest `bench` run: this project's rounds and PyTorch's of one commit."""
  ours = [r for r in _step_rows('step_time_cpu.jsonl', 'cpu-bench')
          if r.get('commit') and '--auto_chunks' in r['command'] and '--steps=10' in r['command']]
  if not ours:
    return None
  commit = ours[-1]['commit']
  ours = [r for r in ours if r['commit'] == commit][-3:]
  torch = [r for r in rows_of('torch_step_cpu.jsonl') if r.get('commit') == commit][-3:]
  if not torch:
    return None
  a = [r['step_ms'] for r in ours]
  b = [r['step_ms'] for r in torch]
  per_round = [y / x for x, y in zip(a, b)]
  ratio = float(np.median(b) / np.median(a))
  table = [['**scratchgan-jax**, defaults (automatic microbatching)', ', '.join(f'{x:,.0f}' for x in a),
            f'{np.median(a):,.0f}', f'{1e3 / np.median(a):.2f}', f'**{ratio:.2f}×**'],
           [f'PyTorch {torch[0]["torch"]}, `--threads={torch[0]["threads"]}`',
            ', '.join(f'{x:,.0f}' for x in b), f'{np.median(b):,.0f}', f'{1e3 / np.median(b):.2f}',
            '1×']]
  head = (f'`cpu_suite.sh bench` at {provenance(ours[0], ("jax", "torch"))}, torch '
          f'{torch[0]["torch"]}; {len(a)} alternating rounds of 10 steps (per round the ratio '
          f'is {min(per_round):.2f}–{max(per_round):.2f}×)')
  return head, markdown_table(['implementation', 'ms per step, each round', 'median ms',
                               'steps/s', 'faster than PyTorch by'], table)


def paper_cpu():
  rows = [r for r in _step_rows('step_time_cpu.jsonl', 'paper') if r.get('commit')]
  if not rows:
    return None, []
  commit = rows[-1]['commit']
  rows = [r for r in rows if r['commit'] == commit]
  latest = {(label(r), r['batch_size']): r for r in rows}
  rows = sorted(latest.values(), key=lambda r: (label(r), r['batch_size']))
  table = [[label(r), f'{r["batch_size"]:,}', r['grad_chunks'], f'{r["step_ms"] / 1e3:.1f} s',
            f'{r["step_ms"] / r["batch_size"]:.1f}', f'{r["peak_memory_bytes"] / GIB:.2f} GiB',
            f'{r["compiled_temp_bytes"] / GIB:.2f} GiB' if r.get('compiled_temp_bytes') else '']
           for r in rows]
  head = (f'`cpu_suite.sh sweep` at {provenance(rows[0])}; one timed step per row '
          '("cold": right after compiling, without a warm-up call)')
  return (head, markdown_table(['setting', 'batch', 'chunks', 'step', 'ms per example',
                                'peak memory', "XLA's planned temporaries"], table)), rows


def scaling():
  rows = [r for r in _step_rows('step_time_cpu.jsonl', 'cpu-bench')
          if '--steps=3 --batch_sizes=' in r['command']][-8:]
  if len(rows) < 2:
    return None
  table = []
  # cpu_suite.sh writes, per device count, the batch-64 row (strong) then the
  # 64-per-device row (weak).
  for s, w in zip(rows[0::2], rows[1::2]):
    table.append([s.get('devices', 1), f'{s["step_ms"]:,.0f} ms',
                  f'{w["step_ms"]:,.0f} ms (batch {w["batch_size"]})',
                  f'{w["step_ms"] / w["batch_size"]:.1f}', f'{w["peak_memory_bytes"] / GIB:.2f} GiB'])
  head = (f'`cpu_suite.sh scaling` at {provenance(rows[0])}; `JAX_NUM_CPU_DEVICES=N`, '
          '`--grad_chunks=N`, 3 steps after a warm-up; the N devices share the same cores')
  return head, markdown_table(['devices', 'strong: global batch 64', 'weak: 64 per device',
                               'ms per example (weak)', 'peak memory (weak)'], table)


def emnlp_comparison():
  """The latest `cpu_suite.sh emnlp` run: its last six rows, three rounds of two
  commits, alternating; the median step of each commit."""
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


def emnlp_parts():
  """The latest `--breakdown` row of the emnlp2017-small preset."""
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


def paper_gpu():
  rows = _step_rows('step_time_gpu.jsonl', 'paper')
  rows = [r for r in rows if r.get('devices', 1) == 1]
  if not rows:
    return None, []
  latest = {(label(r), r['batch_size']): r for r in rows}  # a later row supersedes
  rows = sorted(latest.values(), key=lambda r: (label(r), r['batch_size']))
  table = []
  for r in rows:
    util = r.get('flop_utilisation')
    table.append([label(r), f'{r["batch_size"]:,}', r['grad_chunks'], f'{r["steps_per_s"]:.2f}',
                  f'{1e6 / r["sequences_per_s"]:.1f}', f'{r["peak_memory_bytes"] / GIB:.1f} GiB',
                  f'{r["achieved_tflops"]:.1f}', '' if util is None else f'{100 * util:.1f}%'])
  head = f'`gpu_suite.sh` at {provenance(rows[0])}; the latest row of each setting'
  return (head, markdown_table(['setting', 'batch', 'chunks', 'steps/s', 'µs per example',
                                'peak memory', 'TFLOP/s', 'utilisation'], table)), rows


def plot(rows, path, title):
  plt = pyplot()
  if plt is None or not rows:
    return
  fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.4))
  for name in sorted({label(r) for r in rows}):
    rs = [r for r in rows if label(r) == name]
    if len(rs) < 2:
      continue
    b = [r['batch_size'] for r in rs]
    ax1.plot(b, [r['peak_memory_bytes'] / GIB for r in rs], 'o-', label=name)
    ax2.plot(b, [1e3 * r['step_ms'] / r['batch_size'] for r in rs], 'o-', label=name)
  for ax, yl in ((ax1, 'peak memory (GiB)'), (ax2, 'µs per example')):
    ax.set_xscale('log', base=2)
    ax.set_xlabel('global batch')
    ax.set_ylabel(yl)
    ax.grid(alpha=0.3)
  ax1.legend(fontsize=7)
  fig.suptitle(title, fontsize=9)
  save_figure(fig, path)


def write(name, title, parts):
  lines = [f'# {title}', '']
  for part in parts:
    if part:
      lines += [part[0] + ':', ''] + part[1] + ['']
  with open(os.path.join(RESULTS, name), 'w', encoding='utf-8') as f:
    f.write('\n'.join(lines).rstrip('\n') + '\n')
  print('\n'.join(lines))


def main():
  cpu_table, cpu_rows = paper_cpu()
  write('step_cpu.md', 'The update step on the CPU', [against_torch(), cpu_table, scaling()])
  plot(cpu_rows, os.path.join(RESULTS, 'batch_sweep_cpu.png'),
       f'CPU ({cpu_rows[0].get("cpu_model", "")}), paper preset' if cpu_rows else '')
  write('emnlp_step.md', 'The emnlp2017-small step', [emnlp_comparison(), emnlp_parts()])
  gpu_table, gpu_rows = paper_gpu()
  write('step_gpu.md', 'The update step on one GPU', [gpu_table])
  plot(gpu_rows, os.path.join(RESULTS, 'batch_sweep_gpu.png'),
       f'{gpu_rows[0]["device_kind"]}, paper preset' if gpu_rows else '')
  return 0


if __name__ == '__main__':
  sys.exit(main())
