"""What a benchmark line needs to be compared across machines and commits."""
from __future__ import annotations

import datetime
import os
import subprocess


def describe(root: str | None = None) -> dict:
  """{'cpu_model': ..., 'commit': ..., 'date': ...}: the CPU (ratios between implementations
  differ from one CPU to another for the same code: BENCHMARKS.md) and the
  code's commit (+ '-dirty' when the tree has changes) of the checkout at
  `root` (default: this one)."""
  model = None
  try:
    with open('/proc/cpuinfo') as f:
      for line in f:
        if line.startswith('model name'):
          model = line.split(':', 1)[1].strip()
          break
  except OSError:
    pass
  root = root or os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  try:
    commit = subprocess.run(['git', 'rev-parse', '--short', 'HEAD'], cwd=root,
                            capture_output=True, text=True, check=True).stdout.strip()
    # The results files a suite appends to do not make the code dirty.
    dirty = subprocess.run(['git', 'status', '--porcelain', '--untracked-files=no', '--',
                            '.', ':(exclude)benchmarks/results'],
                           cwd=root, capture_output=True, text=True).stdout.strip()
    commit += '-dirty' if dirty else ''
  except (OSError, subprocess.CalledProcessError):
    commit = None
  date = datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ')
  return {'cpu_model': model, 'commit': commit, 'date': date}
