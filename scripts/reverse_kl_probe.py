"""How far is each oracle run's generator from the oracle in reverse KL? For the
last checkpoint of each run (or `--steps`): draw N samples at T = 1 and report,
per token, NLL-oracle (-log p_oracle of the samples), the generator's own NLL of
them (an estimate of its entropy rate) and their difference,

  KL(p_gen || p_oracle) = E_gen[log p_gen - log p_oracle] = NLL-oracle - own NLL,

the quantity `--reward_source=oracle_log_ratio` rewards with (its mean reward is
minus this on the training batch). MLE's generator is scored the same way, so
the reverse KL that the generator family reaches by maximum likelihood is a
reference for what REINFORCE reaches when it optimises that KL directly.

    python scripts/reverse_kl_probe.py --out=probe.jsonl runs/a runs/b ...
    python scripts/reverse_kl_probe.py --table=probe.jsonl > probe.md

`--table` renders the rows as one line per setting (the workdir's name without
its `_sN` seed suffix): mean ± sample std over its runs.
"""
from __future__ import annotations

import json
import os
import re

import numpy as np
from absl import app, flags

from scratchgan_jax import experiment, inference, writers
from scratchgan_jax import oracle as oracle_lib

_NUM = flags.DEFINE_integer('num', 10000, 'Samples per checkpoint.')
_SEED = flags.DEFINE_integer('seed', 0, 'Which samples.')
_OUT = flags.DEFINE_string('out', '', 'JSON lines output (appended; default: stdout only).')
_STEPS = flags.DEFINE_string('steps', '', 'Comma-separated checkpoint steps '
                             '(default: the last kept checkpoint of each run).')
_TABLE = flags.DEFINE_string('table', '', 'Render these JSON lines files (comma-separated) '
                             'as a markdown table instead of probing.')
_SETTING = flags.DEFINE_string('setting', '', "A name for the runs' rows; the table groups "
                               "by it (default: each workdir's name without `_sN`).")


def probe(run, gen_params, num: int, seed: int) -> dict:
  """NLL-oracle, own NLL and their difference, nats per token."""
  samples = np.asarray(inference.sample_tokens(run.setup.gen, gen_params, num, seed))
  nll_oracle = oracle_lib.nll(run.oracle_params, samples)
  own = inference.token_nll(run.setup.gen, gen_params, samples, eos=False)
  return dict(num=len(samples), nll_oracle=round(nll_oracle, 4), own_nll=round(own, 4),
              reverse_kl=round(nll_oracle - own, 4))


def _cell(values) -> str:
  if len(values) == 1:
    return f'{values[0]:.3f}'
  return f'{np.mean(values):.3f} ± {np.std(values, ddof=1):.3f}'


def table(paths: str) -> str:
  """One markdown row per setting (a row's `setting`, else its workdir's name
  without `_sN`), in the order of the files' rows."""
  groups: dict[str, list[dict]] = {}
  for path in paths.split(','):
    for line in open(path, encoding='utf-8'):
      row = json.loads(line)
      name = row.get('setting') or re.sub(r'_s\d+$', '', row['workdir'])
      groups.setdefault(name, []).append(row)
  header = ('setting', 'runs', 'NLL-oracle', 'own NLL (entropy)', 'KL(gen ‖ oracle)',
            'runs named')
  lines = writers.markdown_table(header, [
      (name, len(rows),
       *(_cell([r[k] for r in rows]) for k in ('nll_oracle', 'own_nll', 'reverse_kl')),
       ', '.join(f"`{r['workdir']}`" for r in rows)) for name, rows in groups.items()])
  return ('Nats per token at the last checkpoint, 10,000 samples each; mean ± sample std '
          '(n - 1) over runs. Made by `scripts/reverse_kl_probe.py --table`.\n\n'
          + '\n'.join(lines) + '\n')


def main(argv):
  if _TABLE.value:
    print(table(_TABLE.value), end='')
    return
  workdirs = argv[1:]
  if not workdirs:
    raise app.UsageError('name one or more oracle training runs')
  rows = []
  for workdir in workdirs:
    steps = [int(s) for s in _STEPS.value.split(',')] if _STEPS.value else None
    run, states = experiment.checkpoint_states(workdir, steps)
    if run.oracle_params is None:
      raise app.UsageError(f'{workdir}: not an oracle run')
    states = list(states) if steps else list(states)[-1:]
    for step, state in states:
      row = dict(workdir=os.path.basename(os.path.normpath(workdir)), step=step,
                 **({'setting': _SETTING.value} if _SETTING.value else {}),
                 objective=run.cfg.objective, reward_source=run.cfg.reward_source,
                 **probe(run, state.gen_params, _NUM.value, _SEED.value))
      print(json.dumps(row), flush=True)
      rows.append(row)
  if _OUT.value:
    writers.append_jsonl(_OUT.value, rows)


if __name__ == '__main__':
  app.run(main)
