#!/usr/bin/env python3
"""Table and plot of a batch sweep from step_time.py's JSON lines.

    python benchmarks/batch_report.py benchmarks/results/step_time_gpu.jsonl \
        --png benchmarks/results/batch_sweep_gpu.png

Prints a Markdown table (batch, chunks, microbatch, dtype, steps/s, time per
example, peak memory, TFLOP/s, utilisation) of every step_time row, and draws
peak memory and time per example against the batch, one line per setting
(one chunk, fixed microbatch, automatic).
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from scratchgan_jax.writers import markdown_table, pyplot, save_figure  # noqa: E402


def label(r):
  dt = '' if r.get('compute_dtype', 'float32') == 'float32' else ' bf16'
  v = '' if r.get('vocab', 5700) == 5700 else f' V={r["vocab"]}'
  if r.get('auto_chunks'):
    kind = 'automatic'
  elif '--microbatch' in r.get('command', ''):  # batch = microbatch is one chunk too
    kind = f'microbatch {r["microbatch"]}'
  elif r['grad_chunks'] == 1:
    kind = 'one chunk'
  else:
    kind = f'microbatch {r["microbatch"]}'
  cold = ' (cold)' if r.get('warmup') is False else ''  # the first call after compiling
  return kind + dt + v + cold


def main():
  p = argparse.ArgumentParser()
  p.add_argument('jsonl')
  p.add_argument('--png', default='')
  p.add_argument('--preset', default='paper', help='rows of this preset only')
  a = p.parse_args()
  rows, failed, latest = [], [], {}
  with open(a.jsonl, encoding='utf-8') as f:
    for line in f:
      r = json.loads(line)
      if r.get('failed'):
        failed.append(r)
      elif (r.get('benchmark') == 'step_time' and r.get('preset') == a.preset
            and r.get('devices', 1) == 1):
        # A later row of the same setting supersedes an earlier one.
        latest[(label(r), r['batch_size'])] = r
  rows = sorted(latest.values(), key=lambda r: (label(r), r['batch_size']))
  table = []
  for r in rows:
    util = r.get('flop_utilisation')
    table.append([label(r), r['batch_size'], r['grad_chunks'], f'{r["steps_per_s"]:.2f}',
                  f'{1e6 / r["sequences_per_s"]:.1f}',
                  f'{r["peak_memory_bytes"] / 2**30:.1f} GiB', f'{r["achieved_tflops"]:.1f}',
                  '' if util is None else f'{100 * util:.1f}%'])
  table += [[f'failed: `{r["args"]}`', '', '', '', '', r['error'][:120], '', '']
            for r in failed]
  print('\n'.join(markdown_table(['setting', 'batch', 'chunks', 'steps/s', 'µs per example',
                                  'peak memory', 'TFLOP/s', 'utilisation'], table)))
  if a.png:
    plt = pyplot(required=True)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.4))
    for name in sorted({label(r) for r in rows}):
      rs = [r for r in rows if label(r) == name]
      if len(rs) < 2:
        continue
      b = [r['batch_size'] for r in rs]
      ax1.plot(b, [r['peak_memory_bytes'] / 2**30 for r in rs], 'o-', label=name)
      ax2.plot(b, [1e6 / r['sequences_per_s'] for r in rs], 'o-', label=name)
    for ax, yl in ((ax1, 'peak memory (GiB)'), (ax2, 'µs per example')):
      ax.set_xscale('log', base=2)
      ax.set_xlabel('global batch')
      ax.set_ylabel(yl)
      ax.grid(alpha=0.3)
    ax1.legend(fontsize=7)
    fig.suptitle(f"{rows[0]['device_kind']}, {a.preset} preset", fontsize=9)
    save_figure(fig, a.png)


if __name__ == '__main__':
  main()
