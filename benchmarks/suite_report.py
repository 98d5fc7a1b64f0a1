#!/usr/bin/env python3
"""The README's table of test-suite times, from the rows the suites write
themselves (`SCRATCHGAN_RECORD_SUITE=benchmarks/results/test_suites.jsonl
python -m pytest ...`, see tests/conftest.py): the latest row of each suite.

    python benchmarks/suite_report.py     # writes benchmarks/results/test_suites.md
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from scratchgan_jax.writers import markdown_table  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SRC = os.path.join(ROOT, 'benchmarks', 'results', 'test_suites.jsonl')
OUT = os.path.join(ROOT, 'benchmarks', 'results', 'test_suites.md')
NAMES = {'not slow': 'fast (`-m "not slow"`)', 'slow': 'slow (`-m slow`)', 'all': 'all'}


def main():
  with open(SRC, encoding='utf-8') as f:
    rows = [json.loads(l) for l in f if l.strip()]
  latest = {}
  for r in rows:
    latest[r['suite']] = r
  table = []
  for suite in sorted(latest, key=lambda s: list(NAMES).index(s) if s in NAMES else 9):
    r = latest[suite]
    tests = f"{r['passed']} passed" + (f", {r['failed']} failed" if r['failed'] else '') + (
        f", {r['skipped']} skipped" if r['skipped'] else '')
    table.append([NAMES.get(suite, suite), tests, f"{r['seconds'] / 60:.1f} min", r['workers'],
                  f"{r['cpu_model']}, {r['cpus']} cores", r['commit'], r['date'][:10],
                  f"{r['python']}, {r['jax']}"])
  lines = ['# Test suites', ''] + markdown_table(
      ['suite', 'tests', 'wall time', 'workers', 'machine', 'commit', 'date', 'python, jax'],
      table)
  with open(OUT, 'w', encoding='utf-8') as f:
    f.write('\n'.join(lines) + '\n')
  return 0


if __name__ == '__main__':
  sys.exit(main())
