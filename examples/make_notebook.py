"""Writes examples/scratchgan_quickstart.ipynb (run it to refresh the outputs).

    python examples/make_notebook.py && \
      jupyter nbconvert --to notebook --execute --inplace examples/scratchgan_quickstart.ipynb
(or tests/test_notebook.py's `execute`, which needs only nbclient + ipykernel).
"""
import os

import nbformat as nbf

CELLS = [
    ('md', """# ScratchGAN in a notebook: the library's pure functions

Build the generator and discriminator, sample, run the compiled ScratchGAN update step in
a short training loop on the synthetic oracle, sample at several temperatures, score with
BLEU / Self-BLEU / Fréchet distance, and load a trained workdir. Sizes are tiny so the
whole notebook runs in about a minute on a laptop CPU; the same calls run the paper's
configuration on a GPU or TPU."""),
    ('code', """# Install from the clone this notebook sits in (on a hosted runtime such as Colab,
# clone or upload the repository first and open examples/ from it).
import os, sys
try:
    import scratchgan_jax  # noqa: F401  (already installed, e.g. `pip install -e '.[plots]'`)
except ImportError:
    %pip install -q -e "..[plots]"
    # A kernel does not see an editable install made while it runs; the clone's
    # root on sys.path makes the package importable now, without a restart.
    sys.path.insert(0, os.path.abspath('..'))
    import scratchgan_jax  # noqa: F401
print('scratchgan_jax from', os.path.dirname(scratchgan_jax.__file__))
"""),
    ('code', """import jax, jax.numpy as jnp, numpy as np
from scratchgan_jax import data, experiment, inference, metrics, oracle, train
from scratchgan_jax.config import Config
print('jax', jax.__version__, jax.devices())"""),
    ('md', """## Data: the synthetic oracle
A random LSTM (the SeqGAN benchmark) generates the training and held-out sequences;
NLL-oracle scores a model's samples under it. Here: vocabulary 200, length 12."""),
    ('code', """V, T = 200, 12
oracle_params = oracle.random_oracle(seed=88, vocab_size=V, embedding_size=32, hidden_size=32)
ds = oracle.make_dataset(oracle_params, length=T, num_train=2000, num_valid=1000, seed=88)
print(ds.train.shape, ds.valid.shape, 'oracle NLL of its own samples:',
      round(oracle.nll(oracle_params, ds.valid), 3))"""),
    ('md', """## The two networks as pure functions
`make_setup` builds the generator and discriminator (`hk.transform`ed, NamedTuples of pure
functions) and both Adam optimisers from a `Config`."""),
    ('code', """cfg = Config(dataset='oracle', oracle_vocab_size=V, oracle_length=T, batch_size=64,
             gen_feature_size=32, num_layers_gen=1, disc_feature_size=32,
             trainable_embedding_size=16, gen_lr=1e-3, disc_lr=1e-2, gamma=0.5,
             baseline_decay=0.9, disc_dropout=0.5).validate()
setup = train.make_setup(cfg, V)
state = train.init_state(setup, seed=0)
tokens, lengths = setup.gen.sample(state.gen_params, jax.random.key(1), 4)
print(tokens)
print('log p per token:', setup.gen.log_prob(state.gen_params, tokens)[0])
print('D(x_t | x_<t):', jax.nn.sigmoid(setup.disc.apply(state.disc_params, jax.random.key(2),
                                                         tokens, False))[0])"""),
    ('md', """## One compiled update step, a short training loop
`train.update_fn(setup)` is `update(state, batch) -> (state, metrics)`: a discriminator
update, then a REINFORCE generator update on fresh samples, all randomness folded from the
key in `state`. Jit it and loop; NLL-oracle and NLL-test every 25 steps."""),
    ('code', """import matplotlib.pyplot as plt
from IPython.display import clear_output

update = jax.jit(train.update_fn(setup))
curve = []
for step in range(150):
    batch = data.get_batch(ds.train, ds.train_length, step=step, batch_size=64, seed=0,
                           shuffle=True)
    state, m = update(state, batch)
    if step % 25 == 0 or step == 149:
        ev, _ = inference.oracle_metrics(setup.gen, state.gen_params, oracle_params, ds.valid,
                                         num_samples=500, seed=step)
        curve.append((step, ev['nll_oracle'], ev['nll_test'], float(m['disc_loss'])))
        clear_output(wait=True)
        s, o, t, d = zip(*curve)
        fig, ax = plt.subplots(1, 2, figsize=(8, 2.6))
        ax[0].plot(s, o, 'o-', label='NLL-oracle'); ax[0].plot(s, t, 's-', label='NLL-test')
        ax[0].legend(); ax[0].set_xlabel('step'); ax[1].plot(s, d, 'o-')
        ax[1].set_title('discriminator loss'); ax[1].set_xlabel('step')
        plt.show()
print({k: round(float(v), 3) for k, v in m.items()})"""),
    ('md', """## Temperature: quality against diversity
Lower temperatures give samples the oracle likes (lower NLL-oracle) but less diverse
(higher Self-BLEU)."""),
    ('code', """refs = [[str(t) for t in row] for row in ds.valid[:500]]
for temp in (0.7, 1.0, 1.3):
    toks = inference.sample_tokens(setup.gen, state.gen_params, 500, seed=3, temperature=temp)
    hyps = [[str(t) for t in row] for row in toks]
    print(f'T={temp}: NLL-oracle {oracle.nll(oracle_params, toks):.3f}  '
          f'BLEU-3 {metrics.bleu(hyps, refs, 3):.3f}  Self-BLEU-3 {metrics.self_bleu(hyps, 3):.3f}')"""),
    ('md', """## Fréchet distance between two sets of embeddings
`metrics.frechet_distance` takes any sentence embeddings (FED uses a sentence encoder:
`encoders.make_encoder('use')` with the `fed` extra). Here a bag-of-tokens embedding
through a fixed random projection, samples against held-out data and against itself."""),
    ('code', """proj = np.random.default_rng(0).normal(size=(V, 16))
embed = lambda seqs: np.stack([np.bincount(s, minlength=V) for s in seqs]) @ proj
fake = inference.sample_tokens(setup.gen, state.gen_params, 1000, seed=4)
print('FD(samples, held-out):', round(metrics.frechet_distance(embed(fake), embed(ds.valid)), 3))
print('FD(train, held-out):  ', round(metrics.frechet_distance(embed(ds.train[:1000]), embed(ds.valid)), 3))"""),
    ('md', """## A run on disk: train, then load it back
`experiment.train` is what `python launch.py` calls: checkpoints, metrics.jsonl, samples
and a summary in the workdir. `experiment.load_generator` gives back the run and the best
parameters."""),
    ('code', """import tempfile, os
workdir = os.path.join(tempfile.mkdtemp(), 'run')
run_cfg = cfg.replace(oracle_num_train=2000, oracle_num_valid=1000, num_steps=40,
                      eval_every=20, checkpoint_every=20, log_every=20, num_eval_samples=500)
summary = experiment.train(run_cfg, workdir)
print(sorted(os.listdir(workdir)))
run, params, path = experiment.load_generator(workdir, prefer_best=True)
print('loaded', os.path.basename(path), 'best:', summary['best'])
print(inference.sample_tokens(run.setup.gen, params, 3, seed=0))"""),
]


def build():
  nb = nbf.v4.new_notebook()
  nb.metadata['kernelspec'] = {'name': 'python3', 'display_name': 'Python 3',
                               'language': 'python'}
  nb.cells = [nbf.v4.new_markdown_cell(src) if kind == 'md' else nbf.v4.new_code_cell(src)
              for kind, src in CELLS]
  return nb


if __name__ == '__main__':
  path = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'scratchgan_quickstart.ipynb')
  nbf.write(build(), path)
  print(path)
