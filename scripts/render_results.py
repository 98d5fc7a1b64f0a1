#!/usr/bin/env python3
"""Puts committed result tables into the documents, so a number cannot drift
from its file.

    python scripts/render_results.py            # rewrite the blocks in place
    python scripts/render_results.py --check    # exit 1 with a diff if stale

A block in README.md, RESULTS.md or BENCHMARKS.md reads

    <!-- begin: results/some/table.md -->
    ...replaced by that file's content, its leading '# title' line dropped
       and its relative links made relative to the repository root...
    <!-- end: results/some/table.md -->

Paths are relative to the repository root. The files themselves are made by
the scripts named in each section (e.g. results/beyond_paper/render.sh).
"""
import argparse
import difflib
import os
import re
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOCS = ('README.md', 'RESULTS.md', 'BENCHMARKS.md')
BLOCK = re.compile(r'(<!-- begin: (?P<path>[^ ]+) -->\n)(?P<body>.*?)(<!-- end: (?P=path) -->)',
                   re.S)


LINK = re.compile(r'(!?\[[^\]]*\]\()([^)\s]+)\)')


def _relink(text: str, folder: str) -> str:
  """Relative link targets of a file in `folder`, made relative to the root."""
  def sub(m):
    target = m.group(2)
    if not folder or re.match(r'[a-z]+:|/|#', target):
      return m.group(0)
    return f'{m.group(1)}{os.path.normpath(os.path.join(folder, target))})'
  return LINK.sub(sub, text)


def table_text(path: str) -> str:
  with open(os.path.join(REPO, path), encoding='utf-8') as f:
    lines = f.read().splitlines()
  if lines and lines[0].startswith('# '):
    lines = lines[1:]
  while lines and not lines[0].strip():
    lines = lines[1:]
  return _relink('\n'.join(lines).rstrip('\n') + '\n', os.path.dirname(path))


def render(text: str) -> str:
  def sub(m):
    return m.group(1) + table_text(m.group('path')) + m.group(4)
  return BLOCK.sub(sub, text)


def main(argv=None):
  p = argparse.ArgumentParser(description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument('--check', action='store_true', help='only compare; exit 1 if stale')
  a = p.parse_args(argv)
  stale = False
  for doc in DOCS:
    path = os.path.join(REPO, doc)
    if not os.path.exists(path):
      continue
    with open(path, encoding='utf-8') as f:
      old = f.read()
    try:
      new = render(old)
    except FileNotFoundError as e:
      print(f'{doc}: a block names a missing file: {e.filename}', file=sys.stderr)
      return 1
    if new == old:
      continue
    if a.check:
      stale = True
      sys.stdout.writelines(difflib.unified_diff(
          old.splitlines(True), new.splitlines(True), f'{doc} (committed)',
          f'{doc} (from the files)'))
    else:
      with open(path, 'w', encoding='utf-8') as f:
        f.write(new)
      print(f'updated {doc}')
  if stale:
    print('the documents disagree with the result files: run '
          'python scripts/render_results.py', file=sys.stderr)
    return 1
  return 0


if __name__ == '__main__':
  sys.exit(main())
