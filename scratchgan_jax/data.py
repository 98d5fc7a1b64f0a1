"""Datasets, vocabularies and deterministic batches (host-side numpy).

Every dataset becomes a `Dataset`: int32 arrays `[N, T]` of token ids padded
with PAD (id 0) and int32 lengths `[N]` that count the tokens up to and
including the first PAD (the original ScratchGAN convention). For the synthetic
oracle there is no end-of-sentence token: every sequence has length T and
`Dataset.eos` is False.

Batches are a pure function of (seed, step): `get_batch` needs no iterator
state, so the data position saved in a checkpoint is simply the step.
"""
from __future__ import annotations

import collections
import dataclasses
import json
import os
import re
from typing import Iterable, NamedTuple, Sequence

from absl import logging
import numpy as np

PAD = ' '
PAD_ID = 0
UNK = '<unk>'
GLOVE_STD = 0.3836  # Std of the GloVe vectors; init of the trainable part.


class DataError(ValueError):
  """A user-caused data error; the message names the file and the problem."""


class Batch(NamedTuple):
  sequence: np.ndarray  # [B, T] int32
  length: np.ndarray  # [B] int32: tokens up to and including the first PAD.


# ----------------------------------------------------------------------------
# Vocabulary.


@dataclasses.dataclass(frozen=True)
class Vocab:
  """id -> word list with PAD (' ') at id 0 and `<unk>` present."""
  words: tuple[str, ...]

  def __post_init__(self):
    if not self.words or self.words[PAD_ID] != PAD:
      raise DataError('vocabulary must have PAD " " at id 0')
    if UNK not in self.words:
      raise DataError(f'vocabulary must contain {UNK}')

  @property
  def word_to_id(self) -> dict[str, int]:
    return {w: i for i, w in enumerate(self.words)}

  @property
  def unk_id(self) -> int:
    return self.words.index(UNK)

  def __len__(self) -> int:
    return len(self.words)

  def encode(self, tokens: Sequence[str]) -> list[int]:
    w2i, unk = self.word_to_id, self.unk_id
    return [w2i.get(t, unk) for t in tokens]

  def decode(self, ids: Iterable[int], strip: bool = True) -> str:
    """Readable sentence: tokens before the first PAD (all of them if not strip)."""
    out = []
    for i in ids:
      i = int(i)
      if strip and i == PAD_ID:
        break
      out.append(self.words[i] if 0 <= i < len(self.words) else UNK)
    return ' '.join(out)

  def to_json(self) -> str:
    return json.dumps(list(self.words), ensure_ascii=False)

  @classmethod
  def from_json(cls, text: str) -> 'Vocab':
    return cls(tuple(json.loads(text)))

  def fingerprint(self) -> str:
    import hashlib
    return hashlib.sha256(self.to_json().encode('utf-8')).hexdigest()[:16]


def tokenize(sentence: str, lowercase: bool = False) -> list[str]:
  """The original rule: split on single spaces and append PAD."""
  if lowercase:
    sentence = sentence.lower()
  return sentence.split(' ') + [PAD]


def build_vocab(token_lists: Iterable[Sequence[str]], max_size: int) -> Vocab:
  """Frequency-sorted vocabulary, ties by word; `<unk>` added; PAD forced to 0.

  Follows the original `reader._build_vocab`: UNK is prepended when absent, PAD
  is swapped with whatever word sits at id 0, then the list is truncated to
  `max_size` words (keeping `<unk>`).
  """
  counts = collections.Counter()
  for tokens in token_lists:
    counts.update(tokens)
  words = [w for w, _ in sorted(counts.items(), key=lambda x: (-x[1], x[0]))]
  if UNK not in words:
    words = [UNK] + words
  if PAD not in words:
    words.append(PAD)
  pad_at = words.index(PAD)
  words[PAD_ID], words[pad_at] = words[pad_at], words[PAD_ID]
  words = words[:max_size]
  if UNK not in words:  # Truncation must never drop <unk> (the original could).
    words[-1] = UNK
  return Vocab(tuple(words))


# ----------------------------------------------------------------------------
# Dataset.


@dataclasses.dataclass
class Dataset:
  name: str
  train: np.ndarray
  train_length: np.ndarray
  valid: np.ndarray
  valid_length: np.ndarray
  vocab: Vocab | None  # None for the oracle (token ids are the words).
  vocab_size: int
  eos: bool  # Token 0 ends a sentence (text) or is an ordinary token (oracle).
  train_sentences: list[str] | None = None
  valid_sentences: list[str] | None = None

  @property
  def max_length(self) -> int:
    return self.train.shape[1]

  def decode(self, ids) -> str:
    if self.vocab is None:
      return ' '.join(str(int(i)) for i in ids)
    return self.vocab.decode(ids)


def encode_sentences(token_lists: Sequence[Sequence[str]], vocab: Vocab,
                     max_length: int, source: str,
                     skip_long: bool = False) -> tuple[np.ndarray, np.ndarray]:
  """Token lists (ending with PAD) -> ([N, max_length] int32, [N] int32)."""
  kept = []
  for n, tokens in enumerate(token_lists):
    if len(tokens) > max_length:
      if skip_long:
        continue
      raise DataError(
          f'{source}: sentence {n + 1} has {len(tokens) - 1} tokens, over '
          f'--max_length={max_length} (which counts the final PAD); raise '
          '--max_length or pass --skip_long_sentences')
    kept.append(tokens)
  if not kept:
    raise DataError(f'{source}: no sentences left (all empty or over --max_length)')
  seqs = np.full((len(kept), max_length), PAD_ID, np.int32)
  lengths = np.zeros((len(kept),), np.int32)
  for i, tokens in enumerate(kept):
    ids = vocab.encode(tokens)
    seqs[i, :len(ids)] = ids
    lengths[i] = len(ids)
  return seqs, lengths


def file_lines(text: str) -> list[str]:
  """Lines as a file has them: split on '\\n' (and '\\r\\n') only.

  `str.splitlines` also splits on U+2028, U+0085, form feed...: line numbers
  would drift from the file's, and a GloVe line could be cut in two.
  """
  lines = text.split('\n')
  if lines and lines[-1] == '':
    lines.pop()
  return [l[:-1] if l.endswith('\r') else l for l in lines]


def _read_text(path: str, what: str) -> str:
  if not path:
    raise DataError(f'{what}: no path given')
  if not os.path.exists(path):
    raise DataError(f'{path}: file not found ({what})')
  if os.path.isdir(path):
    raise DataError(f'{path}: is a directory, expected a file ({what})')
  try:
    with open(path, 'rb') as f:
      raw = f.read()
  except OSError as e:
    raise DataError(f'{path}: cannot read ({e.strerror})') from None
  try:
    text = raw.decode('utf-8-sig')  # a leading byte-order mark is not a token
  except UnicodeDecodeError as e:
    line = raw[:e.start].count(b'\n') + 1
    raise DataError(f'{path}: not valid UTF-8 (line {line}, byte {e.start})') from None
  if not text.strip():
    raise DataError(f'{path}: file is empty ({what})')
  return text


def read_scratchgan_json(path: str) -> list[dict]:
  """Reads a ScratchGAN JSON file: a list of {"s": sentence, "t": [titles]}."""
  text = _read_text(path, 'ScratchGAN JSON')
  try:
    records = json.loads(text)
  except json.JSONDecodeError as e:
    raise DataError(f'{path}: malformed JSON (line {e.lineno}, column '
                    f'{e.colno}: {e.msg})') from None
  if not isinstance(records, list) or not records:
    raise DataError(f'{path}: expected a non-empty JSON list of {{"s": ...}} records')
  for n, r in enumerate(records):
    if not isinstance(r, dict) or not isinstance(r.get('s'), str):
      raise DataError(f'{path}: record {n} is not an object with a string "s"')
    titles = r.get('t', [])
    if not isinstance(titles, list) or not all(isinstance(t, str) for t in titles):
      raise DataError(f'{path}: record {n} has a "t" that is not a list of strings')
  return records


def read_lines(path: str, what: str = 'text', keep_blank: bool = False) -> list[str]:
  """One sentence per line; surrounding whitespace stripped, blank lines
  dropped (kept as '' with `keep_blank`: in a file of samples an empty line
  is an empty sample)."""
  text = _read_text(path, what)
  lines = [' '.join(l.split()) for l in file_lines(text)]
  if keep_blank:
    return lines
  lines = [l for l in lines if l]
  if not lines:
    raise DataError(f'{path}: no non-blank lines ({what})')
  return lines


def load_emnlp2017(data_dir: str, max_length: int = 52, max_vocab_size: int = 20000,
                   skip_long: bool = False, train_path: str = '',
                   valid_path: str = '') -> Dataset:
  """The original ScratchGAN reader: train.json / valid.json, its vocab rules.

  `train_path` / `valid_path`, when given, are read instead of the files of
  `data_dir` (which may then be empty).
  """
  if data_dir and not os.path.isdir(data_dir):
    raise DataError(f'{data_dir}: --data_dir is not a folder')
  train_path = train_path or os.path.join(data_dir, 'train.json')
  valid_path = valid_path or os.path.join(data_dir, 'valid.json')
  train = read_scratchgan_json(train_path)
  valid = read_scratchgan_json(valid_path)

  def all_tokens():
    for r in train:
      yield tokenize(r['s'])
      for t in r.get('t', []):  # The original counts title tokens too.
        yield tokenize(t)

  vocab = build_vocab(all_tokens(), max_vocab_size)
  tr, trl = encode_sentences([tokenize(r['s']) for r in train], vocab,
                             max_length, train_path, skip_long)
  va, val = encode_sentences([tokenize(r['s']) for r in valid], vocab,
                             max_length, valid_path, skip_long)
  return Dataset('emnlp2017', tr, trl, va, val, vocab, len(vocab), eos=True,
                 train_sentences=[r['s'] for r in train],
                 valid_sentences=[r['s'] for r in valid])


def _sentences_dataset(name: str, train_sents: list[str], valid_sents: list[str],
                       train_src: str, valid_src: str, *, lowercase: bool,
                       max_length: int, max_vocab_size: int, skip_long: bool,
                       min_tokens: int) -> Dataset:
  if lowercase:
    train_sents = [s.lower() for s in train_sents]
    valid_sents = [s.lower() for s in valid_sents]
  if min_tokens:
    train_sents = [s for s in train_sents if len(s.split(' ')) >= min_tokens]
    valid_sents = [s for s in valid_sents if len(s.split(' ')) >= min_tokens]
  if skip_long:  # Drop before building the vocabulary, like WikiText prep.
    train_sents = [s for s in train_sents if len(s.split(' ')) < max_length]
    valid_sents = [s for s in valid_sents if len(s.split(' ')) < max_length]
  train_tok = [tokenize(s) for s in train_sents]
  vocab = build_vocab(train_tok, max_vocab_size)
  tr, trl = encode_sentences(train_tok, vocab, max_length, train_src, skip_long)
  va, val = encode_sentences([tokenize(s) for s in valid_sents], vocab,
                             max_length, valid_src, skip_long)
  logging.info('Data: %d training sentences (%s), %d validation sentences (%s), '
               'vocabulary %d.', len(tr), train_src, len(va), valid_src, len(vocab))
  return Dataset(name, tr, trl, va, val, vocab, len(vocab), eos=True,
                 train_sentences=train_sents, valid_sentences=valid_sents)


_HEADER_FIELD = re.compile(r'^"?[A-Za-z_][A-Za-z0-9_]{0,30}"?$')


def check_plain_text(path: str, flag: str) -> None:
  """Stops with a clear error when a one-sentence-per-line file is in fact
  JSON / JSON Lines or CSV / TSV (read as text, its vocabulary would be
  `{"text":`, `."}`, `.,0`...). Looks at the file's first 64 KiB."""
  with open(path, 'rb') as f:
    raw = f.read(1 << 16).decode('utf-8-sig', errors='replace')
  head = [l.strip('\r') for l in raw.split('\n')[:200]]
  head = [l for l in head[:-1] if l.strip()] or [l for l in head if l.strip()]
  if not head:
    return
  fix = ('write one sentence per line (e.g. `jq -r .text f.jsonl > f.txt`, or '
         "`python -c \"import csv,sys; [print(r['text']) for r in "
         "csv.DictReader(open(sys.argv[1]))]\" f.csv > f.txt`)")
  if sum(l.strip().startswith(('{', '[')) and l.strip().endswith(('}', ']', '},', ','))
         for l in head) \
      >= 0.9 * len(head):
    raise DataError(f'{path}: looks like JSON or JSON Lines, not one sentence per line '
                    f'({flag}); for ScratchGAN JSON use --dataset=emnlp2017, otherwise '
                    + fix)
  for sep, name in ((',', 'CSV'), ('\t', 'TSV')):
    fields = head[0].split(sep)
    if (len(fields) >= 2 and all(_HEADER_FIELD.fullmatch(f) for f in fields)
        and len(head) > 1
        and sum(l.count(sep) >= len(fields) - 1 for l in head[1:]) >= 0.9 * (len(head) - 1)):
      raise DataError(f'{path}: looks like {name} with a header ({head[0][:60]!r}), not '
                      f'one sentence per line ({flag}); ' + fix)


def load_text(train_path: str, valid_path: str = '', *, lowercase: bool = False,
              max_length: int = 52, max_vocab_size: int = 20000,
              skip_long: bool = False, min_tokens: int = 0,
              valid_fraction: float = 0.05) -> Dataset:
  """Plain text, one sentence per line (Texygen / RelGAN / GFS format).

  Without `valid_path`, the last `valid_fraction` of the training lines is held
  out for validation.
  """
  train = read_lines(train_path, '--train_path')
  check_plain_text(train_path, '--train_path')
  if valid_path:
    valid = read_lines(valid_path, '--valid_path')
    check_plain_text(valid_path, '--valid_path')
  else:
    n_valid = max(1, int(len(train) * valid_fraction))
    if len(train) < 2:
      raise DataError(f'{train_path}: need at least 2 lines to hold out a '
                      'validation set (or pass --valid_path)')
    train, valid = train[:-n_valid], train[-n_valid:]
    logging.warning('No --valid_path: the last %d lines of %s are held out for validation '
                    '(and are not trained on).', n_valid, train_path)
  return _sentences_dataset('text', train, valid, train_path,
                            valid_path or f'{train_path} (held-out tail)',
                            lowercase=lowercase, max_length=max_length,
                            max_vocab_size=max_vocab_size, skip_long=skip_long,
                            min_tokens=min_tokens)


def load_tfds(name: str, *, data_dir: str = '', text_key: str = 'text',
              train_split: str = 'train', valid_split: str = 'validation',
              lowercase: bool = False, max_length: int = 52,
              max_vocab_size: int = 20000, skip_long: bool = False,
              min_tokens: int = 0) -> Dataset:
  """Any TFDS text dataset through `tfds.data_source` (no TensorFlow needed)."""
  try:
    import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  except ImportError:
    raise DataError('--dataset=tfds:... needs tensorflow-datasets: pip install '
                    '"scratchgan-jax[tfds]"') from None

  def read(split):
    try:
      src = tfds.data_source(name, split=split, data_dir=data_dir or None,
                             try_gcs=False)
    except Exception as e:  # tfds raises many types; report them uniformly.
      raise DataError(f'tfds:{name} split {split!r}: cannot open ({e})') from None
    out = []
    for i in range(len(src)):
      rec = src[i]
      if text_key not in rec:
        raise DataError(f'tfds:{name}: no feature {text_key!r} '
                        f'(has {sorted(rec)}); set --tfds_text_key')
      v = rec[text_key]
      s = v.decode('utf-8') if isinstance(v, bytes) else str(v)
      s = ' '.join(s.split())
      if s:
        out.append(s)
    if not out:
      raise DataError(f'tfds:{name} split {split!r} is empty')
    return out

  return _sentences_dataset(f'tfds:{name}', read(train_split), read(valid_split),
                            f'tfds:{name}/{train_split}', f'tfds:{name}/{valid_split}',
                            lowercase=lowercase, max_length=max_length,
                            max_vocab_size=max_vocab_size, skip_long=skip_long,
                            min_tokens=min_tokens)


def load_glove(path: str, vocab: Vocab, seed: int) -> np.ndarray:
  """GloVe text format ("count dim" first line) -> [V, dim] float32 in vocab order.

  Words missing from the file get N(0, 0.3836) rows, seeded, as in the original.
  """
  text = _read_text(path, '--embedding_path')
  lines = file_lines(text)
  header = lines[0].split()
  if len(header) != 2 or not all(h.isdigit() for h in header):
    raise DataError(f'{path}: first line must be "count dim", got {lines[0][:60]!r}')
  dim = int(header[1])
  found = {}
  for n, line in enumerate(lines[1:], start=2):
    parts = line.rstrip().split(' ')
    if len(parts) < dim + 1:
      continue
    word, values = ' '.join(parts[:-dim]), parts[-dim:]
    try:
      found[word] = np.asarray(values, dtype=np.float32)
    except ValueError:
      raise DataError(f'{path}: line {n} has non-numeric values') from None
  if not found:
    raise DataError(f'{path}: no vectors of dimension {dim} found')
  rng = np.random.default_rng([seed, 7])
  emb = rng.normal(0.0, GLOVE_STD, size=(len(vocab), dim)).astype(np.float32)
  for i, w in enumerate(vocab.words):
    if w in found:
      emb[i] = found[w]
  return emb


def cooccurrence_counts(sequences: np.ndarray, lengths: np.ndarray, vocab_size: int,
                        window: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """Harmonically weighted co-occurrences of the tokens of each sequence.

  Within each sequence's first `lengths[i]` tokens (the final PAD included, so
  the end of a sentence is a word like any other), every ordered pair of
  positions at distance 1 <= d <= window adds 1/d (GloVe's weighting;
  Pennington et al. 2014). Returns the sparse matrix as (rows, cols, weights)
  with unique (row, col) pairs, in increasing row-major order.
  """
  seqs = np.asarray(sequences, np.int64)
  lengths = np.asarray(lengths)
  T = seqs.shape[1]
  keys, weights = [], []
  for d in range(1, min(window, T - 1) + 1):
    valid = np.arange(T - d)[None, :] + d < lengths[:, None]  # both ends inside
    a, b = seqs[:, :-d][valid], seqs[:, d:][valid]
    for rows, cols in ((a, b), (b, a)):
      keys.append(rows * vocab_size + cols)
      weights.append(np.full(rows.shape, 1.0 / d))
  if not keys:
    empty = np.zeros((0,), np.int64)
    return empty, empty, np.zeros((0,), np.float64)
  keys, weights = np.concatenate(keys), np.concatenate(weights)
  unique, inverse = np.unique(keys, return_inverse=True)
  summed = np.bincount(inverse.ravel(), weights=weights, minlength=len(unique))
  return unique // vocab_size, unique % vocab_size, summed


def ppmi_embeddings(sequences: np.ndarray, lengths: np.ndarray, vocab_size: int,
                    dim: int, *, window: int = 5, alpha: float = 0.75,
                    rms: float = GLOVE_STD, seed: int = 0,
                    power_iterations: int = 4) -> np.ndarray:
  """[V, dim] word vectors from the training sequences alone: PPMI + SVD.

  The offline stand-in for the paper's frozen GloVe part (its
  `glove_emnlp2017.txt` cannot be fetched here): the positive pointwise mutual
  information of the co-occurrence counts (`cooccurrence_counts`), with the
  context distribution smoothed by `alpha` (Levy, Goldberg & Dagan, TACL 2015:
  "Improving distributional similarity with lessons learned from word
  embeddings"), factorised by a truncated SVD; the vectors are U_d sqrt(S_d)
  (their eigenvalue weighting p = 0.5), scaled so that the entries' root mean
  square is `rms` (by default GloVe's standard deviation, 0.3836; a run uses
  the scale of its trainable part's Glorot init, `pretrained_embeddings`).
  The SVD is randomized (Halko, Martinsson & Tropp 2011) with a fixed seed, so
  the same data gives the same vectors. Words that never occur get
  zero rows. Needs a dense [V, V] float32 matrix (1.6 GB at V = 20,000).
  """
  if dim <= 0:
    raise ValueError(f'dim={dim}: must be > 0')
  if dim > vocab_size:
    raise DataError(f'a PPMI embedding of size {dim} needs at least {dim} words; '
                    f'the vocabulary has {vocab_size}')
  rows, cols, counts = cooccurrence_counts(sequences, lengths, vocab_size, window)
  if not len(counts):
    raise DataError('no co-occurring tokens: the PPMI embedding needs sequences '
                    'of at least two tokens')
  word = np.bincount(rows, weights=counts, minlength=vocab_size)
  context = np.bincount(cols, weights=counts, minlength=vocab_size) ** alpha
  # PMI(w, c) = log P(w, c) - log P(w) - log P_alpha(c); the total count cancels.
  pmi = (np.log(counts) - np.log(word[rows])
         - np.log(context[cols] / context.sum()))
  keep = pmi > 0
  matrix = np.zeros((vocab_size, vocab_size), np.float32)
  matrix[rows[keep], cols[keep]] = pmi[keep]
  # Randomized range finder with power iterations, then the SVD of the small
  # projected matrix.
  rng = np.random.default_rng([seed, 11])
  k = min(vocab_size, dim + 16)
  q = matrix @ rng.standard_normal((vocab_size, k)).astype(np.float32)
  q, _ = np.linalg.qr(q)
  for _ in range(power_iterations):
    q, _ = np.linalg.qr(matrix.T @ q)
    q, _ = np.linalg.qr(matrix @ q)
  u_small, s, _ = np.linalg.svd(q.T.astype(np.float64) @ matrix, full_matrices=False)
  u = q.astype(np.float64) @ u_small[:, :dim]
  # A sign convention, so that the vectors do not depend on LAPACK's choice.
  u *= np.where(u[np.abs(u).argmax(axis=0), np.arange(dim)] < 0, -1.0, 1.0)
  emb = u * np.sqrt(s[:dim])
  now = np.sqrt(np.mean(emb ** 2))  # unlike the std, blind to the signs
  if now > 0:
    emb *= rms / now
  return emb.astype(np.float32)


# ----------------------------------------------------------------------------
# Deterministic batches.


def batch_schedule(step: int, batch_size: int, early_batch_size: int = 0,
                   early_steps: int = 0) -> tuple[int, int]:
  """(size, first stream position) of batch `step` (0-based) when the first
  `early_steps` batches have `early_batch_size` examples and the rest
  `batch_size`: the batches tile the stream, none skipped or read twice.

  The small early batch is a batch-size warm-up (`--early_batch_size`): the
  batch size that trains efficiently grows as training goes on (McCandlish et
  al., "An Empirical Model of Large-Batch Training", 2018; growing the batch in
  place of decaying the learning rate: Smith et al., "Don't Decay the Learning
  Rate, Increase the Batch Size", ICLR 2018)."""
  if not early_batch_size:
    return batch_size, step * batch_size
  k = min(step, early_steps)
  start = k * early_batch_size + (step - k) * batch_size
  return (early_batch_size if step < early_steps else batch_size), start


def batch_indices(num_examples: int, batch_size: int, step: int, seed: int,
                  shuffle: bool, start: int | None = None) -> np.ndarray:
  """Indices of batch `step` in an endless stream of epochs.

  Epoch e is a permutation seeded by (seed, e) (identity without shuffling).
  Batch k covers stream positions [k*B, (k+1)*B) (from `start` instead where
  given: `batch_schedule`), so any batch can be computed directly from the step:
  resuming needs no iterator state.
  """
  start = step * batch_size if start is None else start
  pos = np.arange(start, start + batch_size, dtype=np.int64)
  epochs, offsets = np.divmod(pos, num_examples)
  if not shuffle:
    return offsets
  out = np.empty_like(offsets)
  for e in np.unique(epochs):
    perm = np.random.default_rng([seed, int(e)]).permutation(num_examples)
    sel = epochs == e
    out[sel] = perm[offsets[sel]]
  return out


def get_batch(sequences: np.ndarray, lengths: np.ndarray, *, step: int,
              batch_size: int, seed: int, shuffle: bool,
              process_index: int = 0, process_count: int = 1,
              start: int | None = None) -> Batch:
  """This process's slice of global batch `step` (from stream position
  `start` where given, see `batch_indices`)."""
  idx = batch_indices(len(sequences), batch_size, step, seed, shuffle, start)
  per = batch_size // process_count
  idx = idx[process_index * per:(process_index + 1) * per]
  return Batch(sequences[idx], lengths[idx])


def lengths_from_sequences(seqs: np.ndarray, eos: bool) -> np.ndarray:
  """Length up to and including the first PAD (T if none, or if not eos)."""
  seqs = np.asarray(seqs)
  T = seqs.shape[1]
  if not eos:
    return np.full((seqs.shape[0],), T, np.int32)
  is_pad = seqs == PAD_ID
  first = np.where(is_pad.any(1), is_pad.argmax(1) + 1, T)
  return first.astype(np.int32)


# ----------------------------------------------------------------------------
# The dataset of a config.


def pretrained_embeddings(cfg, dataset) -> np.ndarray | None:
  """The frozen embedding part of a run: a GloVe file, PPMI vectors of the
  training data (`--ppmi_embedding_size`), or none.

  PPMI vectors come at the scale of the trainable part's Glorot init (its
  standard deviation sqrt(2 / (V + M)); with no trainable part, M = the PPMI
  width), which stays Glorot beside them. At
  GloVe's scale for both parts (the original's choice for GloVe), one
  EMNLP2017 run never learnt to end a sentence in 900 steps, its samples' NLL
  swinging between 0.4 and 7.7 nats
  (results/beyond_paper/emnlp2017/ppmi64_glove_scale_s0_stopped_metrics.jsonl).
  """
  if cfg.ppmi_embedding_size:
    V = dataset.vocab_size
    width = cfg.trainable_embedding_size or cfg.ppmi_embedding_size
    return ppmi_embeddings(dataset.train, dataset.train_length, V,
                           cfg.ppmi_embedding_size, window=cfg.ppmi_window,
                           rms=float(np.sqrt(2.0 / (V + width))))
  if not cfg.embedding_path:
    return None
  return load_glove(cfg.embedding_path, dataset.vocab, cfg.seed)
