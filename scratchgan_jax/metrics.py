"""Sample-quality metrics: BLEU / Self-BLEU (nltk-exact, fast) and Fréchet distance.

BLEU-n here is exactly nltk's `sentence_bleu(references, hypothesis,
weights=(1/n,)*n, smoothing_function=SmoothingFunction().method1)` averaged
over hypotheses, every hypothesis against the whole reference set (the
Texygen / GansFallingShort protocol), nltk's edge cases included:

* clipped counts use, for each n-gram, its maximum count in any reference, which
  does not depend on the hypothesis: it is precomputed once per order, so a
  hypothesis costs O(its n-grams) instead of O(its n-grams x references);
* the brevity penalty uses the reference length closest to the hypothesis length
  (ties to the shorter), looked up in the sorted set of reference lengths;
* method1 replaces a zero numerator by epsilon 0.1; a hypothesis with no unigram
  match scores 0 (nltk returns 0 before smoothing).

Self-BLEU scores each sample against all the *other* samples: for every n-gram
the top-2 counts over samples (and the multiplicity of the top one) give the
maximum over the others in O(1).
"""
from __future__ import annotations

import bisect
import collections
import math
from typing import Sequence

from absl import logging
import numpy as np

EPSILON = 0.1  # nltk SmoothingFunction(epsilon=0.1).method1


def _ngram_counts(ids: Sequence[int], n: int) -> collections.Counter:
  if len(ids) < n:
    return collections.Counter()
  return collections.Counter(zip(*(ids[i:] for i in range(n))))


def _intern(sentences: Sequence[Sequence[str]], table: dict) -> list[tuple[int, ...]]:
  out = []
  for s in sentences:
    out.append(tuple(table.setdefault(w, len(table)) for w in s))
  return out


def _score(clipped: Sequence[int], totals: Sequence[int], hyp_len: int,
           ref_len: int, n: int) -> float:
  """nltk sentence_bleu for one hypothesis, from its per-order counts."""
  if clipped[0] == 0:  # No unigram match: nltk returns 0 before smoothing.
    return 0.0
  if hyp_len > ref_len:
    bp = 1.0
  elif hyp_len == 0:
    bp = 0.0
  else:
    bp = math.exp(1 - ref_len / hyp_len)
  logs = []
  for k in range(n):
    num, den = clipped[k], max(1, totals[k])
    p = (num + EPSILON) / den if num == 0 else num / den
    logs.append(math.log(p) / n)
  return bp * math.exp(math.fsum(logs))


def _closest(sorted_lengths: list[int], h: int) -> int:
  """Closest reference length to h, ties broken towards the shorter one."""
  i = bisect.bisect_left(sorted_lengths, h)
  cands = sorted_lengths[max(0, i - 1):i + 1]
  return min(cands, key=lambda r: (abs(r - h), r))


def bleu_all(hypotheses: Sequence[Sequence[str]], references: Sequence[Sequence[str]],
             orders: Sequence[int] = (2, 3, 4, 5)) -> dict[int, float]:
  """{n: mean BLEU-n} of token lists `hypotheses` against all `references`."""
  if not hypotheses or not references:
    raise ValueError('BLEU needs at least one hypothesis and one reference')
  max_n = max(orders)
  table: dict = {}
  refs = _intern(references, table)
  hyps = _intern(hypotheses, table)
  max_counts = []
  for n in range(1, max_n + 1):
    m: dict = {}
    for r in refs:
      for g, c in _ngram_counts(r, n).items():
        if c > m.get(g, 0):
          m[g] = c
    max_counts.append(m)
  lengths = sorted({len(r) for r in refs})
  sums = {n: 0.0 for n in orders}
  for h in hyps:
    clipped, totals = [], []
    for n in range(1, max_n + 1):
      counts = _ngram_counts(h, n)
      m = max_counts[n - 1]
      clipped.append(sum(min(c, m.get(g, 0)) for g, c in counts.items()))
      totals.append(sum(counts.values()))
    ref_len = _closest(lengths, len(h))
    for n in orders:
      sums[n] += _score(clipped, totals, len(h), ref_len, n)
  return {n: sums[n] / len(hyps) for n in orders}


def self_bleu_all(samples: Sequence[Sequence[str]],
                  orders: Sequence[int] = (2, 3, 4, 5)) -> dict[int, float]:
  """{n: mean Self-BLEU-n}: each sample against all the other samples."""
  if len(samples) < 2:
    raise ValueError('Self-BLEU needs at least two samples')
  max_n = max(orders)
  table: dict = {}
  sents = _intern(samples, table)
  per_sent = [[_ngram_counts(s, n) for n in range(1, max_n + 1)] for s in sents]
  # For each n-gram: (top count, how many samples have it, second count).
  tops = []
  for k in range(max_n):
    top: dict = {}
    for counts in per_sent:
      for g, c in counts[k].items():
        t1, mult, t2 = top.get(g, (0, 0, 0))
        if c > t1:
          top[g] = (c, 1, t1)
        elif c == t1:
          top[g] = (t1, mult + 1, t2)
        elif c > t2:
          top[g] = (t1, mult, c)
    tops.append(top)
  length_count = collections.Counter(len(s) for s in sents)
  lengths = sorted(length_count)
  sums = {n: 0.0 for n in orders}
  for s, counts in zip(sents, per_sent):
    clipped, totals = [], []
    for k in range(max_n):
      total, clip = 0, 0
      top = tops[k]
      for g, c in counts[k].items():
        t1, mult, t2 = top[g]
        other_max = t2 if (c == t1 and mult == 1) else t1
        clip += min(c, other_max)
        total += c
      clipped.append(clip)
      totals.append(total)
    if length_count[len(s)] == 1:  # own length is not among the others'
      others = lengths[:]
      others.remove(len(s))
    else:
      others = lengths
    ref_len = _closest(others, len(s))
    for n in orders:
      sums[n] += _score(clipped, totals, len(s), ref_len, n)
  return {n: sums[n] / len(sents) for n in orders}


def bleu(hypotheses, references, max_n: int = 5) -> float:
  """Mean BLEU-`max_n` (nltk sentence_bleu, method1) against all references."""
  return bleu_all(hypotheses, references, (max_n,))[max_n]


def self_bleu(samples, max_n: int = 5) -> float:
  """Mean Self-BLEU-`max_n`: each sample against all the others."""
  return self_bleu_all(samples, (max_n,))[max_n]


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
  """Fréchet distance between Gaussians fitted to the rows of `a` and `b`.

  ||mu_a - mu_b||^2 + tr(S_a) + tr(S_b) - 2 tr((S_a^1/2 S_b S_a^1/2)^1/2),
  with the matrix square roots from symmetric eigendecompositions, in float64.
  """
  a = np.asarray(a, np.float64)
  b = np.asarray(b, np.float64)
  if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
    raise ValueError(f'need two [N, D] arrays with the same D, got {a.shape} and {b.shape}')
  if len(a) < 2 or len(b) < 2:
    raise ValueError('need at least two rows in each set')
  if min(len(a), len(b)) <= a.shape[1]:
    logging.warning('FED with %d samples and %d references in %d dimensions: a covariance '
                    'from no more rows than dimensions is singular, and the distance is '
                    'biased; use more sentences than dimensions (10,000 in the paper).',
                    len(a), len(b), a.shape[1])
  mu_a, mu_b = a.mean(0), b.mean(0)
  s_a = np.cov(a, rowvar=False)
  s_b = np.cov(b, rowvar=False)
  w, v = np.linalg.eigh(s_a)
  sqrt_a = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
  m = sqrt_a @ s_b @ sqrt_a
  eig = np.linalg.eigvalsh((m + m.T) / 2)
  tr_sqrt = np.sqrt(np.clip(eig, 0, None)).sum()
  d = float(((mu_a - mu_b) ** 2).sum() + np.trace(s_a) + np.trace(s_b) - 2 * tr_sqrt)
  # A distance is >= 0; identical sets give ~-1e-16 from rounding, not -0.0000.
  return max(d, 0.0)


# ----------------------------------------------------------------------------
# Sentence encoders for FED (pluggable; results are named FED[encoder]).


def fed(samples: Sequence[str], references: Sequence[str], encoder) -> float:
  """Fréchet embedding distance between sentence sets under `encoder`."""
  return frechet_distance(encoder(list(samples)), encoder(list(references)))


# ----------------------------------------------------------------------------
# Novelty and length statistics.


def longest_match(samples: Sequence[Sequence[str]], train: Sequence[Sequence[str]],
                  max_n: int = 10) -> np.ndarray:
  """Per sample, the longest n (<= max_n) of an n-gram also in the training set."""
  table: dict = {}
  tr = _intern(train, table)
  ss = _intern(samples, table)
  grams = [set() for _ in range(max_n + 1)]
  for s in tr:
    for n in range(1, max_n + 1):
      grams[n].update(zip(*(s[i:] for i in range(n))))
  out = np.zeros(len(ss), np.int32)
  for j, s in enumerate(ss):
    best = 0
    for n in range(1, min(max_n, len(s)) + 1):
      if any(g in grams[n] for g in zip(*(s[i:] for i in range(n)))):
        best = n
      else:
        break
    out[j] = best
  return out


def ngram_neighbours(queries: Sequence[Sequence[str]], train: Sequence[Sequence[str]],
                     k: int = 3, n: int = 3) -> list[list[tuple[int, float]]]:
  """Top-k training sentences by cosine similarity of n-gram count vectors.

  Returns, per query, [(train index, cosine)] best first (ties by index).
  """
  table: dict = {}
  tr = _intern(train, table)
  qs = _intern(queries, table)
  index: dict = collections.defaultdict(list)
  norms = np.zeros(len(tr))
  for i, s in enumerate(tr):
    counts = _ngram_counts(s, n)
    norms[i] = math.sqrt(sum(c * c for c in counts.values()))
    for g, c in counts.items():
      index[g].append((i, c))
  out = []
  for q in qs:
    counts = _ngram_counts(q, n)
    qn = math.sqrt(sum(c * c for c in counts.values()))
    dots: dict = collections.defaultdict(float)
    for g, c in counts.items():
      for i, tc in index.get(g, ()):
        dots[i] += c * tc
    scored = sorted(((-d / (qn * norms[i]), i) for i, d in dots.items()))[:k]
    out.append([(i, -s) for s, i in scored])
  return out


def embedding_neighbours(query_emb: np.ndarray, train_emb: np.ndarray,
                         k: int = 3) -> list[list[tuple[int, float]]]:
  """Top-k training sentences by cosine similarity of sentence embeddings."""
  q = query_emb / np.maximum(np.linalg.norm(query_emb, axis=1, keepdims=True), 1e-12)
  t = train_emb / np.maximum(np.linalg.norm(train_emb, axis=1, keepdims=True), 1e-12)
  sims = q @ t.T
  top = np.argsort(-sims, axis=1, kind='stable')[:, :k]
  return [[(int(i), float(sims[r, i])) for i in row] for r, row in enumerate(top)]
