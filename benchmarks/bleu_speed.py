#!/usr/bin/env python3
"""BLEU-5 + Self-BLEU-5 on 10k samples x 10k references, against nltk.

    python benchmarks/bleu_speed.py [--num=10000] [--nltk_subset=20]

Uses the EMNLP2017 News valid (hypotheses) and test (references) sentences from
../shared/data when present, else a synthetic Zipf corpus of the same shape.
nltk is timed on a subset of hypotheses and extrapolated linearly. Prints one
JSON line with the machine.
"""
import argparse
import json
import os
import platform
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import host  # noqa: E402  (benchmarks/host.py)
from scratchgan_jax import metrics  # noqa: E402

SHARED = os.path.join(os.path.dirname(__file__), '..', '..', 'shared', 'data',
                      'emnlp2017', 'scratchgan_json')


def corpus(num):
  if os.path.exists(os.path.join(SHARED, 'valid.json')):
    load = lambda f: [r['s'].split(' ') for r in json.load(open(os.path.join(SHARED, f)))]
    return load('valid.json')[:num], load('test.json')[:num], 'emnlp2017 valid/test'
  rng = np.random.default_rng(0)
  mk = lambda: [[str(int(t)) for t in rng.zipf(1.3, rng.integers(20, 50)) % 5700]
                for _ in range(num)]
  return mk(), mk(), 'synthetic zipf'


def main():
  p = argparse.ArgumentParser()
  p.add_argument('--num', type=int, default=10000)
  p.add_argument('--nltk_subset', type=int, default=20)
  a = p.parse_args()
  hyps, refs, source = corpus(a.num)
  t = time.perf_counter()
  b5 = metrics.bleu(hyps, refs, 5)
  t_bleu = time.perf_counter() - t
  t = time.perf_counter()
  sb5 = metrics.self_bleu(hyps, 5)
  t_self = time.perf_counter() - t
  out = {'benchmark': 'bleu_speed', 'source': source, 'num_hypotheses': len(hyps),
         'num_references': len(refs), 'bleu5': b5, 'self_bleu5': sb5,
         'bleu5_s': round(t_bleu, 3), 'self_bleu5_s': round(t_self, 3),
         'total_s': round(t_bleu + t_self, 3)}
  try:
    from nltk.translate.bleu_score import SmoothingFunction, sentence_bleu
    sf = SmoothingFunction().method1
    sub = hyps[:a.nltk_subset]
    t = time.perf_counter()
    ref_scores = [sentence_bleu(refs, h, weights=(0.2,) * 5, smoothing_function=sf)
                  for h in sub]
    t_n = time.perf_counter() - t
    ours = np.mean([metrics.bleu([h], refs, 5) for h in sub])
    out.update(nltk_subset=len(sub), nltk_subset_s=round(t_n, 3),
               nltk_bleu5_extrapolated_s=round(t_n / len(sub) * len(hyps), 1),
               nltk_bleu5_subset_abs_diff=abs(float(np.mean(ref_scores)) - ours))
  except ImportError:
    out['nltk'] = 'not installed'
  out.update(machine=platform.machine(), cpus=os.cpu_count(),
             python=platform.python_version(), numpy=np.__version__,
             command=' '.join(sys.argv), **host.describe())
  print(json.dumps(out))


if __name__ == '__main__':
  main()
