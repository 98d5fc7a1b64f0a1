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


def _loop_log_probs(p, x):
  """log p_oracle(x_t | x_<t) by a per-row, per-step numpy loop of SeqGAN's cell."""
  sig = lambda z: 1 / (1 + np.exp(-z))
  out = np.zeros(x.shape)
  for b in range(x.shape[0]):
    h = c = np.zeros(p['Ui'].shape[0])
    tok = oracle.START_TOKEN
    for t in range(x.shape[1]):
      e = p['g_embeddings'][tok]
      i = sig(e @ p['Wi'] + h @ p['Ui'] + p['bi'])
      f = sig(e @ p['Wf'] + h @ p['Uf'] + p['bf'])
      o = sig(e @ p['Wog'] + h @ p['Uog'] + p['bog'])
      c = f * c + i * np.tanh(e @ p['Wc'] + h @ p['Uc'] + p['bc'])
      h = o * np.tanh(c)
      logits = (h @ p['Wo'] + p['bo']).astype(np.float64)
      lse = logits.max() + np.log(np.exp(logits - logits.max()).sum())
      out[b, t] = logits[x[b, t]] - lse
      tok = x[b, t]
  return out


def test_token_log_probs_match_a_loop_and_sum_to_the_nll():
  p = oracle.random_oracle(2, vocab_size=30, embedding_size=4, hidden_size=5)
  x = oracle.sample(p, 6, 7, seed=1)
  got = np.asarray(oracle.token_log_probs(p, x))
  assert got.shape == (6, 7)
  np.testing.assert_allclose(got, _loop_log_probs(p, x), rtol=1e-4, atol=1e-4)
  assert -got.mean() == pytest.approx(oracle.nll(p, x), rel=1e-5)


@pytest.mark.parametrize('source', ['oracle_log_ratio', 'oracle_token_disc'])
def test_oracle_reward_source_rewards_with_the_exact_density_ratio(source):
  """The update's rewards are the oracle's and the generator's log-densities of
  the sampled tokens (checked through the logged mean reward on a fixed
  batch), not the discriminator's; the discriminator still trains."""
  import jax
  from scratchgan_jax import experiment, train
  from scratchgan_jax.config import Config
  cfg = Config(dataset='oracle', oracle_vocab_size=40, oracle_embedding_size=4,
               oracle_hidden_size=5, oracle_length=6, oracle_num_train=64,
               oracle_num_valid=64, batch_size=8, gen_feature_size=8, num_layers_gen=1,
               disc_feature_size=8, trainable_embedding_size=4, gamma=1.0,
               reward_source=source).validate()
  run = experiment.prepare(cfg)
  assert run.setup.oracle is not None
  setup = train.resolve_chunks(run.setup, None)
  state = train.init_state(setup, 0)
  fake, _ = setup.gen.sample(state.gen_params, jax.random.key(3), 8)
  _, _, _, m = train._gen_update(setup, None, state.gen_params, state.gen_opt_state,
                                 state.disc_params, state.baseline, jax.random.key(4),
                                 fake=fake, batch_size=8)
  ratio = (_loop_log_probs(run.oracle_params, np.asarray(fake))
           - np.asarray(setup.gen.log_prob(state.gen_params, fake)))
  want = ratio if source == 'oracle_log_ratio' else 2 / (1 + np.exp(-ratio)) - 1
  assert float(m['reward']) == pytest.approx(want.mean(), rel=1e-4, abs=1e-5)
  # A random generator is far from the oracle: the ratio is clearly negative.
  assert ratio.mean() < -0.5
  # The whole step runs and moves both players.
  real = run.dataset.train[:8]
  batch = data.Batch(sequence=real, length=np.full(8, real.shape[1], np.int32))
  new, metrics = jax.jit(train.update_fn(setup))(state, batch)
  assert float(metrics['params_finite']) == 1.0
  for a, b in ((new.gen_params, state.gen_params), (new.disc_params, state.disc_params)):
    assert any(np.any(np.asarray(u) != np.asarray(v))
               for u, v in zip(jax.tree.leaves(a), jax.tree.leaves(b)))


def test_oracle_reward_source_is_rejected_off_the_oracle_and_with_disc_options(tmp_path):
  from scratchgan_jax.config import Config, ConfigError
  f = tmp_path / 't.txt'
  f.write_text('a b c\n')
  with pytest.raises(ConfigError, match='needs --dataset=oracle'):
    Config(dataset='text', train_path=str(f), valid_path=str(f),
           reward_source='oracle_log_ratio').validate()
  with pytest.raises(ConfigError, match='does not combine'):
    Config(dataset='oracle', reward_source='oracle_token_disc',
           reward_candidates=4).validate()
  with pytest.raises(ConfigError, match='does not combine'):
    Config(dataset='oracle', reward_source='oracle_token_disc', reward_type='log').validate()
  with pytest.raises(ConfigError, match='objective=gan only'):
    Config(dataset='oracle', objective='mle', reward_source='oracle_log_ratio').validate()
