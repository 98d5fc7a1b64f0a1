import json

import numpy as np
import pytest

from conftest import shared
from scratchgan_jax import data


def test_vocab_follows_the_original_rules():
  toks = [data.tokenize('b a b'), data.tokenize('c b a')]
  vocab = data.build_vocab(toks, max_size=100)
  # Counts: ' ' 2, 'b' 3, 'a' 2, 'c' 1; UNK prepended, then PAD swapped to id 0.
  assert vocab.words[0] == data.PAD
  assert vocab.words == (' ', 'b', '<unk>', 'a', 'c')
  assert vocab.encode(['b', 'zzz']) == [1, vocab.unk_id]
  assert vocab.decode([1, 3, 0, 4]) == 'b a'


def test_vocab_truncation_keeps_most_frequent():
  toks = [data.tokenize('a a a b b c')]
  vocab = data.build_vocab(toks, max_size=3)
  assert len(vocab) == 3 and 'c' not in vocab.words and '<unk>' in vocab.words


def test_encode_pads_and_counts_the_end_pad():
  vocab = data.build_vocab([data.tokenize('x y')], 10)
  seqs, lengths = data.encode_sentences([data.tokenize('x y'), data.tokenize('y')],
                                        vocab, 5, 'src')
  assert seqs.shape == (2, 5) and seqs.dtype == np.int32
  np.testing.assert_array_equal(lengths, [3, 2])
  assert (seqs[0, 2:] == 0).all() and seqs[0, 0] != 0


def test_over_long_sentence_is_an_error_naming_the_file_and_line():
  vocab = data.build_vocab([data.tokenize('a b c d e')], 10)
  with pytest.raises(data.DataError, match=r'src: sentence 2 has 5 tokens.*max_length=5'):
    data.encode_sentences([data.tokenize('a'), data.tokenize('a b c d e')], vocab, 5, 'src')
  seqs, _ = data.encode_sentences([data.tokenize('a'), data.tokenize('a b c d e')],
                                  vocab, 5, 'src', skip_long=True)
  assert len(seqs) == 1


def test_emnlp_json_errors(tmp_path):
  d = tmp_path / 'd'
  d.mkdir()
  with pytest.raises(data.DataError, match='train.json: file not found'):
    data.load_emnlp2017(str(d))
  (d / 'train.json').write_text('')
  with pytest.raises(data.DataError, match='train.json: file is empty'):
    data.load_emnlp2017(str(d))
  (d / 'train.json').write_text('[{"s": "a b"}, ')
  with pytest.raises(data.DataError, match='train.json: malformed JSON'):
    data.load_emnlp2017(str(d))
  (d / 'train.json').write_bytes(b'[{"s": "caf\xe9"}]')
  with pytest.raises(data.DataError, match='train.json: not valid UTF-8'):
    data.load_emnlp2017(str(d))
  (d / 'train.json').write_text('[{"x": 1}]')
  with pytest.raises(data.DataError, match='record 0 is not an object with a string "s"'):
    data.load_emnlp2017(str(d))


def test_emnlp_paths_override_data_dir(tmp_path):
  d = tmp_path / 'd'
  d.mkdir()
  (d / 'train.json').write_text(json.dumps([{'s': 'a a b'}]))
  (d / 'valid.json').write_text(json.dumps([{'s': 'a'}]))
  other = tmp_path / 'other.json'
  other.write_text(json.dumps([{'s': 'c c d'}, {'s': 'c'}]))
  ds = data.load_emnlp2017(str(d), train_path=str(other), max_length=5)
  words = set(ds.vocab.words)  # the vocabulary comes from other.json only
  assert {'c', 'd'} <= words and 'a' not in words and ds.train.shape == (2, 5)
  assert ds.valid_sentences == ['a']  # valid.json still comes from data_dir
  ds = data.load_emnlp2017('', train_path=str(other), valid_path=str(other),
                           max_length=5)
  assert ds.valid_sentences == ['c c d', 'c']


def test_emnlp_json_counts_title_tokens(tmp_path):
  d = tmp_path / 'd'
  d.mkdir()
  recs = [{'s': 'a b', 't': ['z z z']}, {'s': 'b', 't': []}]
  (d / 'train.json').write_text(json.dumps(recs))
  (d / 'valid.json').write_text(json.dumps(recs[:1]))
  ds = data.load_emnlp2017(str(d), max_length=6)
  w = ds.vocab.words  # z outranks b only thanks to the title's 3 counts
  assert w == (' ', '<unk>', 'z', 'b', 'a')
  assert ds.train.shape == (2, 6) and ds.eos


def test_real_emnlp2017_subset():
  d = shared('emnlp2017', 'scratchgan_json')
  import os
  # The subset file is read in place of DATA_DIR/train.json (the flagfiles'
  # --train_path / --valid_path), no data_dir needed.
  ds = data.load_emnlp2017('', train_path=os.path.join(d, 'train_first12500.json'),
                           valid_path=os.path.join(d, 'valid.json'))
  assert ds.train.shape == (12500, 52) and ds.valid.shape == (10000, 52)
  assert ds.vocab.words[0] == ' ' and '<unk>' in ds.vocab.words
  # 5,593 word types + PAD + <unk> + the empty title token "".
  assert 5590 <= len(ds.vocab) <= 5600
  assert ds.train_length.min() >= 22 and ds.train_length.max() <= 52
  # Round trip: the first sentence decodes back to its text.
  with open(os.path.join(d, 'train_first12500.json')) as f:
    first = json.load(f)[0]['s']
  assert ds.vocab.decode(ds.train[0]) == first


def test_text_reader_options_and_errors(tmp_path):
  p = tmp_path / 't.txt'
  p.write_text('The Cat  sat\n\n  the dog sat \nA b c d e f g h\n', encoding='utf-8')
  ds = data.load_text(str(p), str(p), lowercase=True, max_length=10)
  assert 'the' in ds.vocab.words and 'The' not in ds.vocab.words
  assert ds.vocab.decode(ds.train[0]) == 'the cat sat'
  with pytest.raises(data.DataError, match='sentence 3 has 8 tokens'):
    data.load_text(str(p), str(p), max_length=5)
  ds = data.load_text(str(p), str(p), max_length=5, skip_long=True)
  assert len(ds.train) == 2
  ds = data.load_text(str(p), str(p), max_length=10, min_tokens=4)
  assert len(ds.train) == 1
  with pytest.raises(data.DataError, match='missing.txt: file not found'):
    data.load_text(str(tmp_path / 'missing.txt'))
  bad = tmp_path / 'bad.txt'
  bad.write_bytes(b'ok line\n\xff\xfe bad\n')
  with pytest.raises(data.DataError, match=r'bad.txt: not valid UTF-8 \(line 2'):
    data.load_text(str(bad))
  empty = tmp_path / 'empty.txt'
  empty.write_text('\n \n')
  with pytest.raises(data.DataError, match='empty.txt: file is empty'):
    data.load_text(str(empty))


def test_batches_are_a_deterministic_function_of_step():
  seqs = np.arange(10 * 3).reshape(10, 3).astype(np.int32)
  lens = np.full(10, 3, np.int32)
  b1 = data.get_batch(seqs, lens, step=7, batch_size=4, seed=1, shuffle=True)
  b2 = data.get_batch(seqs, lens, step=7, batch_size=4, seed=1, shuffle=True)
  np.testing.assert_array_equal(b1.sequence, b2.sequence)
  # Every epoch is a permutation: 5 batches of 4 cover 2 epochs exactly twice.
  idx = np.concatenate([data.batch_indices(10, 4, s, 1, True) for s in range(5)])
  np.testing.assert_array_equal(np.bincount(idx, minlength=10), np.full(10, 2))
  assert not np.array_equal(idx[:10], idx[10:])  # reshuffled each epoch
  # Without shuffling: sequential wrap-around, like the original reader.
  np.testing.assert_array_equal(data.batch_indices(10, 4, 2, 1, False), [8, 9, 0, 1])
  # Process slices tile the global batch.
  parts = [data.get_batch(seqs, lens, step=3, batch_size=4, seed=1, shuffle=True,
                          process_index=i, process_count=2).sequence for i in range(2)]
  np.testing.assert_array_equal(np.concatenate(parts), b1.sequence if False else
                                data.get_batch(seqs, lens, step=3, batch_size=4,
                                               seed=1, shuffle=True).sequence)


def test_glove_loader(tmp_path):
  vocab = data.build_vocab([data.tokenize('cat dog')], 10)
  p = tmp_path / 'g.txt'
  p.write_text('2 3\ncat 1 2 3\nfish 4 5 6\n', encoding='utf-8')
  emb = data.load_glove(str(p), vocab, seed=0)
  assert emb.shape == (len(vocab), 3) and emb.dtype == np.float32
  np.testing.assert_array_equal(emb[vocab.word_to_id['cat']], [1, 2, 3])
  np.testing.assert_array_equal(emb, data.load_glove(str(p), vocab, seed=0))
  p.write_text('cat 1 2 3\n')
  with pytest.raises(data.DataError, match='first line must be "count dim"'):
    data.load_glove(str(p), vocab, seed=0)


def _slow_cooccurrence(seqs, lengths, V, window):
  counts = np.zeros((V, V))
  for seq, n in zip(seqs, lengths):
    for i in range(n):
      for j in range(n):
        if 1 <= abs(i - j) <= window:
          counts[seq[i], seq[j]] += 1.0 / abs(i - j)
  return counts


def _toy_sequences(V=12, N=40, T=9, seed=0):
  rng = np.random.default_rng(seed)
  lengths = rng.integers(2, T + 1, size=N)
  seqs = rng.integers(1, V, size=(N, T))
  for s, n in zip(seqs, lengths):
    s[n - 1:] = 0  # PAD ends the sentence and fills the rest, as in a Dataset
  return seqs.astype(np.int32), lengths.astype(np.int32)


def test_cooccurrence_counts_equal_a_loop_over_position_pairs():
  seqs, lengths = _toy_sequences()
  for window in (1, 3, 20):
    rows, cols, w = data.cooccurrence_counts(seqs, lengths, 12, window)
    dense = np.zeros((12, 12))
    dense[rows, cols] = w
    np.testing.assert_allclose(dense, _slow_cooccurrence(seqs, lengths, 12, window),
                               rtol=1e-12)
    assert len(set(zip(rows.tolist(), cols.tolist()))) == len(rows)  # unique pairs


def test_ppmi_embeddings_equal_the_svd_of_the_smoothed_ppmi_matrix():
  V, dim, alpha = 12, 5, 0.75
  seqs, lengths = _toy_sequences(V=V)
  counts = _slow_cooccurrence(seqs, lengths, V, 5)
  p_wc = counts / counts.sum()
  p_w = counts.sum(1) / counts.sum()
  c_alpha = counts.sum(0) ** alpha
  p_c = c_alpha / c_alpha.sum()
  with np.errstate(divide='ignore'):
    pmi = np.log(p_wc) - np.log(p_w)[:, None] - np.log(p_c)[None, :]
  ppmi = np.where(counts > 0, np.maximum(pmi, 0.0), 0.0)
  u, s, _ = np.linalg.svd(ppmi)
  want = u[:, :dim] * np.sqrt(s[:dim])
  want *= data.GLOVE_STD / np.sqrt(np.mean(want ** 2))
  got = data.ppmi_embeddings(seqs, lengths, V, dim)
  assert got.shape == (V, dim) and got.dtype == np.float32
  # Equal up to the sign of each singular vector: compare the Gram matrices.
  np.testing.assert_allclose(got @ got.T, want @ want.T, atol=1e-4)
  np.testing.assert_array_equal(got, data.ppmi_embeddings(seqs, lengths, V, dim))


def test_ppmi_embeddings_put_words_of_the_same_contexts_together():
  # "cat" and "dog" occur in the same contexts, "sat" and "ran" in others.
  sents = ['the cat sat on a mat', 'the dog sat on a mat', 'a cat ran to the park',
           'a dog ran to the park', 'my cat sat down', 'my dog sat down']
  vocab = data.build_vocab([data.tokenize(s) for s in sents], 100)
  seqs, lengths = data.encode_sentences([data.tokenize(s) for s in sents], vocab, 8, 'x')
  emb = data.ppmi_embeddings(seqs, lengths, len(vocab), 4, window=2)
  unit = emb / np.linalg.norm(emb, axis=1, keepdims=True).clip(1e-9)
  w = vocab.word_to_id
  assert unit[w['cat']] @ unit[w['dog']] > 0.99
  assert unit[w['cat']] @ unit[w['park']] < 0.5
  with pytest.raises(data.DataError, match='needs at least 50 words'):
    data.ppmi_embeddings(seqs, lengths, len(vocab), 50)


def test_lengths_from_sequences():
  s = np.array([[4, 0, 0], [1, 2, 3]])
  np.testing.assert_array_equal(data.lengths_from_sequences(s, True), [2, 3])
  np.testing.assert_array_equal(data.lengths_from_sequences(s, False), [3, 3])


def test_tfds_text_dataset_without_tensorflow():
  tfds = pytest.importorskip('tensorflow_datasets')
  with tfds.testing.mock_data(num_examples=30):
    ds = data.load_tfds('lm1b', text_key='text', valid_split='test', max_length=300,
                        skip_long=True, lowercase=True)
  assert ds.name == 'tfds:lm1b' and ds.eos
  assert ds.train.shape[1] == 300 and 0 < len(ds.train) <= 30
  assert ds.vocab.decode(ds.train[0]) == ds.train_sentences[0]
  with tfds.testing.mock_data(num_examples=3):
    with pytest.raises(data.DataError, match="no feature 'body'"):
      data.load_tfds('lm1b', text_key='body', valid_split='test')


@pytest.mark.parametrize('content,kind', [
    ('{"text": "the cat sat"}\n{"text": "a dog ran"}\n{"text": "birds sing"}\n', 'JSON'),
    ('[{"s": "the cat sat"},\n{"s": "a dog ran"}]\n', 'JSON'),
    ('text,label\nthe cat sat.,0\na dog ran.,1\nbirds sing, loudly.,0\n', 'CSV'),
    ('id\tsentence\n1\tthe cat sat\n2\ta dog ran\n', 'TSV'),
])
def test_csv_and_json_files_are_not_read_as_sentences(tmp_path, content, kind):
  path = tmp_path / 'f.txt'
  path.write_text(content)
  with pytest.raises(data.DataError, match=f'looks like {kind}'):
    data.load_text(str(path), str(path), max_length=10)


def test_sentences_with_commas_and_braces_are_still_text(tmp_path):
  path = tmp_path / 'f.txt'
  path.write_text('hello , world\nthe { cat } sat , then ran\nyes , no , maybe\n'
                  'cats , dogs\n')
  ds = data.load_text(str(path), str(path), max_length=10)
  assert len(ds.train) == 4
