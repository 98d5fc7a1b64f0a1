"""Helper for the multi-process test: K update steps on P processes x D CPU devices.

    python tests/helpers/multiprocess_run.py PROCESS_ID NUM_PROCESSES PORT DEVICES OUT.npz

Each process loads only its slice of every global batch
(`data.get_batch(process_index=...)`) and the global array is built with
`jax.make_array_from_process_local_data`. Process 0 writes the final state.
NUM_PROCESSES=1 runs the same global batches in a single process.
"""
import os
import sys

import jax

pid, nproc, port, ndev, out = (int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]),
                               int(sys.argv[4]), sys.argv[5])
jax.config.update('jax_num_cpu_devices', ndev)
jax.config.update('jax_cpu_collectives_implementation', 'gloo')
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
from scratchgan_jax import data, experiment, parallel, train  # noqa: E402
from scratchgan_jax.config import Config  # noqa: E402

if nproc > 1:
  parallel.initialize_distributed(f'localhost:{port}', nproc, pid)

import numpy as np  # noqa: E402

SENTS = ['the cat sat on the mat', 'a dog ate the fish', 'the bird sang',
         'a cat saw the dog', 'the dog sat', 'a bird ate the fish']


def main():
  assert jax.process_count() == nproc and jax.process_index() == pid
  tmp = f'{out}.{pid}.txt'
  with open(tmp, 'w') as f:
    f.write('\n'.join(SENTS * 6) + '\n')
  cfg = Config(dataset='text', train_path=tmp, valid_path=tmp, max_length=8,
               batch_size=16, gen_feature_size=16, num_layers_gen=2,
               disc_feature_size=16, trainable_embedding_size=8, gen_lr=1e-2,
               disc_lr=1e-2, selection_metric='valid_nll', grad_chunks=8).validate()
  run = experiment.prepare(cfg)
  state = parallel.replicate(train.init_state(run.setup, 0), run.mesh)
  update = train.compile_update(run.setup, run.mesh)
  for step in range(4):
    b = data.get_batch(run.dataset.train, run.dataset.train_length, step=step,
                       batch_size=16, seed=0, shuffle=True,
                       process_index=jax.process_index(),
                       process_count=jax.process_count())
    assert len(b.sequence) == 16 // nproc
    state, _ = update(state, parallel.shard_batch(b, run.mesh))
  host = parallel.to_host(state)
  if pid == 0:
    flat = jax.tree_util.tree_flatten_with_path(host)[0]
    np.savez(out, **{jax.tree_util.keystr(p): v for p, v in flat})


if __name__ == '__main__':
  main()
