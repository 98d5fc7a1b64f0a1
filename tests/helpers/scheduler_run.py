"""Helper for the CPU-scheduler test: compile and run a GAN step in a fresh process.

    python tests/helpers/scheduler_run.py memory|xla-default OUT.npz

With `memory`, calls parallel.use_cpu_memory_scheduler() first (as launch.py
does). Writes the parameters after 3 steps and XLA's planned temporary bytes of
the compiled step to OUT.npz.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

from scratchgan_jax import parallel  # noqa: E402

if sys.argv[1] == 'memory':
  assert parallel.use_cpu_memory_scheduler()

import jax  # noqa: E402
import numpy as np  # noqa: E402

from scratchgan_jax import data, train  # noqa: E402
from scratchgan_jax.config import Config  # noqa: E402


def main():
  out = sys.argv[2]
  # One chunk, the fastest and most memory-hungry program: a 2-layer generator
  # whose vocabulary projection dominates, as at the paper's size.
  cfg = Config.for_model(batch_size=64, max_length=24,
               gen_feature_size=64, num_layers_gen=2, disc_feature_size=64,
               trainable_embedding_size=16, grad_chunks=1, gen_lr=1e-2, disc_lr=1e-2,
               selection_metric='valid_nll')
  setup = train.make_setup(cfg, 3000, None, eos=True)
  mesh = parallel.make_mesh()
  state = parallel.replicate(train.init_state(setup, 0), mesh)
  rng = np.random.default_rng(0)
  seqs = rng.integers(1, 3000, (64, 24)).astype(np.int32)
  seqs[:, 18:] = 0
  batch = parallel.shard_batch(data.Batch(seqs, np.full(64, 19, np.int32)), mesh)
  step = train.compile_update(setup, mesh).lower(state, batch).compile()
  for _ in range(3):
    state, _ = step(state, batch)
  flat = jax.tree_util.tree_flatten_with_path(parallel.to_host(state))[0]
  np.savez(out, temp_bytes=step.memory_analysis().temp_size_in_bytes,
           **{jax.tree_util.keystr(p): v for p, v in flat})


if __name__ == '__main__':
  main()
