import numpy as np
import pytest

from conftest import shared
from scratchgan_jax import data, oracle


def test_published_seqgan_oracle_scores_its_samples_at_5_7396():
  params = oracle.load_oracle(shared('oracle_seqgan', 'target_params.npz'))
  seqs = oracle.read_id_file(shared('oracle_seqgan', 'real_data_len20.txt'), 5000, 20)
  assert seqs.shape == (9984, 20)
  assert oracle.nll(params, seqs) == pytest.approx(5.7396, abs=1e-3)


def test_random_oracle_is_deterministic_in_the_seed():
  a = oracle.random_oracle(3, vocab_size=50, embedding_size=4, hidden_size=5)
  b = oracle.random_oracle(3, vocab_size=50, embedding_size=4, hidden_size=5)
  c = oracle.random_oracle(4, vocab_size=50, embedding_size=4, hidden_size=5)
  for k in oracle.KEYS:
    np.testing.assert_array_equal(a[k], b[k])
  assert not np.array_equal(a['Wi'], c['Wi'])
  assert a['g_embeddings'].shape == (50, 4) and a['Wo'].shape == (5, 50)
  assert abs(np.concatenate([v.ravel() for v in a.values()]).std() - 1) < 0.1


def test_oracle_samples_are_deterministic_and_score_near_their_entropy():
  p = oracle.random_oracle(0, vocab_size=200, embedding_size=8, hidden_size=8)
  ds = oracle.make_dataset(p, 10, 3000, 3000, seed=5)
  ds2 = oracle.make_dataset(p, 10, 3000, 3000, seed=5)
  np.testing.assert_array_equal(ds.train, ds2.train)
  assert not np.array_equal(ds.train, ds.valid)
  assert ds.train.shape == (3000, 10) and not ds.eos
  # Own samples score far below uniform (log 200 = 5.3), and train ~ valid.
  nll_t, nll_v = oracle.nll(p, ds.train), oracle.nll(p, ds.valid)
  assert nll_t < 5.0 and abs(nll_t - nll_v) < 0.1
  # Samples of another oracle score much worse.
  q = oracle.random_oracle(1, vocab_size=200, embedding_size=8, hidden_size=8)
  assert oracle.nll(q, ds.train) > nll_t + 1


def test_oracle_file_errors(tmp_path):
  with pytest.raises(data.DataError, match='not found'):
    oracle.load_oracle(str(tmp_path / 'x.npz'))
  np.savez(tmp_path / 'bad.npz', Wi=np.zeros((2, 2)))
  with pytest.raises(data.DataError, match='missing oracle arrays'):
    oracle.load_oracle(str(tmp_path / 'bad.npz'))
  (tmp_path / 'junk.npz').write_text('junk')
  with pytest.raises(data.DataError, match='not a readable .npz'):
    oracle.load_oracle(str(tmp_path / 'junk.npz'))
  ids = tmp_path / 'ids.txt'
  ids.write_text('1 2 3\n4 x 6\n')
  with pytest.raises(data.DataError, match='line 2 is not space-separated integer'):
    oracle.read_id_file(str(ids))
  ids.write_text('1 2 3\n4 5 9999\n')
  with pytest.raises(data.DataError, match=r'line 2 has an id outside \[0, 5000\)'):
    oracle.read_id_file(str(ids), vocab_size=5000)
