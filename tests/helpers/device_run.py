"""Helper for the device-invariance tests: run K update steps on N CPU devices.

    python tests/helpers/device_run.py N OUT.npz [objective]

objective `gan+options`: the GAN with the beyond-the-paper options on
(per-position baseline, normalised advantages, two clipped updates per batch,
the generator's moving average);
`gan+loo`: with the leave-one-out baseline; `gan+prefix`: with the prefix
baseline, log-D rewards, an entropy bonus, the MLE term on the real batch and a
PPMI embedding part.

Writes the final parameters (flattened) to OUT.npz.
"""
import os
import sys

import jax

jax.config.update('jax_num_cpu_devices', int(sys.argv[1]))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

import numpy as np  # noqa: E402

from scratchgan_jax import data, experiment, parallel, train  # noqa: E402
from scratchgan_jax.config import Config  # noqa: E402

SENTS = ['the cat sat on the mat', 'a dog ate the fish', 'the bird sang',
         'a cat saw the dog', 'the dog sat', 'a bird ate the fish']


def main():
  n, out = int(sys.argv[1]), sys.argv[2]
  objective = sys.argv[3] if len(sys.argv) > 3 else 'gan'
  options = {}
  if objective.startswith('gan+'):  # the beyond-the-paper options
    options = {'gan+options': dict(baseline_type='position', normalize_advantages=True,
                                   gen_updates_per_batch=2, gen_ema=0.9),
               'gan+loo': dict(baseline_type='loo'),
               'gan+prefix': dict(baseline_type='prefix', reward_type='log',
                                  entropy_bonus=0.05, mle_weight=0.5,
                                  ppmi_embedding_size=4, reward_candidates=3)}[objective]
    objective = 'gan'
  assert len(jax.devices()) == n, jax.devices()
  tmp = out + '.txt'
  with open(tmp, 'w') as f:
    f.write('\n'.join(SENTS * 6) + '\n')
  cfg = Config(dataset='text', train_path=tmp, valid_path=tmp, max_length=8,
               batch_size=16, gen_feature_size=16, num_layers_gen=2,
               disc_feature_size=16, trainable_embedding_size=8, gen_lr=1e-2,
               disc_lr=1e-2, objective=objective,
               selection_metric='valid_nll', grad_chunks=8, **options).validate()
  run = experiment.prepare(cfg)
  assert run.mesh.size == n
  state = parallel.replicate(train.init_state(run.setup, 0), run.mesh)
  update = train.compile_update(run.setup, run.mesh)
  for step in range(4):
    b = data.get_batch(run.dataset.train, run.dataset.train_length, step=step,
                       batch_size=16, seed=0, shuffle=True)
    state, _ = update(state, parallel.shard_batch(b, run.mesh))
  flat = jax.tree_util.tree_flatten_with_path(parallel.to_host(state))[0]
  np.savez(out, **{jax.tree_util.keystr(p): v for p, v in flat})


if __name__ == '__main__':
  main()
