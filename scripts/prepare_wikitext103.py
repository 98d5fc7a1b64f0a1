#!/usr/bin/env python3
"""WikiText-103 -> one sentence per line, as in the paper (App. D).

    python scripts/prepare_wikitext103.py wiki.train.tokens wiki.train.sents

Drops headings (` = Title = `) and blank lines, splits paragraphs into
sentences after ` . `, ` ? ` and ` ! `. Length filtering (7-100 tokens) and
the 20k vocabulary are applied at load time by the flags of
experiments/wikitext103_scratchgan.cfg.
"""
import re
import sys

_SPLIT = re.compile(r'(?<= [.?!]) ')


def sentences(lines):
  for line in lines:
    line = line.strip()
    if not line or (line.startswith('= ') and line.endswith(' =')):
      continue
    for s in _SPLIT.split(line):
      s = ' '.join(s.split())
      if s:
        yield s


def main(src, dst):
  with open(src, encoding='utf-8') as f, open(dst + '.part', 'w', encoding='utf-8') as out:
    for s in sentences(f):
      out.write(s + '\n')
  import os
  os.replace(dst + '.part', dst)


if __name__ == '__main__':
  if len(sys.argv) != 3:
    sys.exit('usage: prepare_wikitext103.py INPUT.tokens OUTPUT.sents')
  main(sys.argv[1], sys.argv[2])
