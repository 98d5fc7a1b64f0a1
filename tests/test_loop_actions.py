"""The training loop's periodic actions, each driven alone (experiment.py):
what they write, when they save, and what they stop on."""
import math

import numpy as np
import pytest

from conftest import tiny_config
from scratchgan_jax import experiment, train, writers


class _Writer:
  def __init__(self):
    self.rows = []

  def write(self, step, row):
    self.rows.append((step, dict(row)))

  def write_text(self, step, tag, text):
    pass


class _Ckpt(experiment.Checkpointer):
  def __init__(self, last_saved):  # no workdir: records what it is asked to save
    self.last_saved, self.saved, self.dir = last_saved, [], '/nowhere'

  def save(self, state, step, is_best=False):
    self.saved.append((step, is_best))
    self.last_saved = f'/nowhere/{step}'
    return self.last_saved


def test_metric_logger_writes_on_log_steps_and_stops_on_a_non_finite_value(tiny_corpus):
  cfg = tiny_config(*tiny_corpus, log_every=2, num_steps=10)
  w, ck = _Writer(), _Ckpt('ckpt_000000002.npz')
  log = experiment.MetricLogger(cfg, w, ck, writers.Progress(0, cfg.num_steps))
  log(1, {'loss': np.float32(1.0), 'params_finite': np.float32(1.0)}, force=False)
  assert w.rows == []  # not a log step
  log(2, {'loss': np.float32(0.5), 'params_finite': np.float32(1.0)}, force=False)
  assert [s for s, _ in w.rows] == [2] and set(w.rows[0][1]) == {'loss', 'steps_per_s'}
  log(3, {'loss': np.float32(0.4), 'params_finite': np.float32(1.0)}, force=True)  # an eval step
  assert [s for s, _ in w.rows] == [2, 3]
  log(5, {'loss': np.float32(math.nan), 'params_finite': np.float32(1.0)}, force=False)  # unchecked
  with pytest.raises(train.TrainingError, match=r'non-finite parameters at step 6; stopped\. '
                     r'Last good checkpoint kept: ckpt_000000002\.npz'):
    log(6, {'loss': np.float32(0.3), 'params_finite': np.float32(0.0)}, force=False)
  with pytest.raises(train.TrainingError, match='non-finite loss=nan at step 8'):
    log(8, {'loss': np.float32(math.nan), 'params_finite': np.float32(1.0)}, force=False)
  assert len(w.rows) == 2  # nothing written at a stopped step


def test_best_model_selector_saves_only_improvements_and_never_step_0(monkeypatch):
  values = iter([1.0, 2.0, 0.5, 0.7, 0.4])
  monkeypatch.setattr(experiment, '_evaluate',
                      lambda run, params, step, workdir: {'valid_nll': next(values)})

  class Run:
    pass

  class State:
    eval_params = None  # what the selector evaluates (TrainState.eval_params)

  w, ck, best = _Writer(), _Ckpt(None), {'value': math.inf, 'step': None}
  select = experiment.BestModelSelector(Run(), '/nowhere', w, ck, best, 'valid_nll',
                                        chief=True)
  for step in (0, 2, 4, 6, 8):
    select(State(), step)
  assert ck.saved == [(2, True), (4, True), (8, True)]  # 2.0 at step 2 beats inf
  assert best == {'value': 0.4, 'step': 8, 'metric': 'valid_nll'}
  assert [r['valid_nll'] for _, r in w.rows] == [1.0, 2.0, 0.5, 0.7, 0.4]
  assert all(r['eval'] for _, r in w.rows)
  monkeypatch.setattr(experiment, '_evaluate',
                      lambda run, params, step, workdir: {'valid_nll': math.nan})
  with pytest.raises(train.TrainingError, match='non-finite evaluation valid_nll=nan at '
                     'step 10; stopped. Last good checkpoint kept: /nowhere/8'):
    select(State(), 10)
