"""Faults a long run meets: kills, NaNs, torn files, a second launch, full disks,
changed data, bad flags. Each ends in a clear message and a workdir that resumes
to exactly the uninterrupted result."""
import json
import os
import random
import signal
import subprocess
import sys
import time

import jax.numpy as jnp
import numpy as np
import pytest

from conftest import REPO, TINY_SENTENCES, poison_updates, tiny_config
from scratchgan_jax import checkpoint, data, experiment, train, writers
from conftest import ORACLE_TINY, TINY, assert_clean_error, launch

ORACLE_RUN = [*TINY, *ORACLE_TINY, '--selection_metric=auto']


def _flat(path):
  with np.load(path) as z:
    return {k: z[k] for k in z.files if k != '__meta__'}


def _assert_same_ckpt(a, b):
  fa, fb = _flat(a), _flat(b)
  assert fa.keys() == fb.keys()
  for k in fa:
    np.testing.assert_array_equal(fa[k], fb[k], err_msg=k)


def test_nan_parameters_on_a_checkpoint_step_are_never_saved(tiny_corpus, tmp_path,
                                                             monkeypatch):
  """The update that makes the parameters NaN falls on a checkpoint step."""
  cfg = tiny_config(*tiny_corpus, num_steps=8, checkpoint_every=2, log_every=100,
                    eval_every=100)
  def poison(state, metrics):
    bad = jnp.where(state.step >= 4, jnp.nan, 0.0)
    gp = dict(state.gen_params)
    gp['generator'] = {**gp['generator'], 'out_bias': gp['generator']['out_bias'] + bad}
    state = state._replace(gen_params=gp)
    # The metrics come from the parameters *before* the update: finite.
    return state, dict(metrics, params_finite=train.params_finite(
        (state.gen_params, state.disc_params)))

  poison_updates(monkeypatch, poison)
  w = str(tmp_path / 'w')
  with pytest.raises(train.TrainingError, match=r'non-finite parameters at step 4.*ckpt_000000002'):
    experiment.train(cfg, w)
  assert checkpoint.all_steps(os.path.join(w, 'checkpoints')) == [2]
  for f in os.listdir(os.path.join(w, 'checkpoints')):
    for k, v in _flat(os.path.join(w, 'checkpoints', f)).items():
      assert np.isfinite(v).all() if v.dtype.kind == 'f' else True, (f, k)


def test_rerun_before_the_first_checkpoint_keeps_one_set_of_rows(tiny_corpus, tmp_path):
  cfg = tiny_config(*tiny_corpus, num_steps=2, checkpoint_every=100, eval_every=100)
  w = tmp_path / 'w'
  w.mkdir()
  # What a kill before the first checkpoint leaves: the config and a step-0 row.
  (w / 'config.json').write_text(cfg.to_json())
  (w / 'metrics.jsonl').write_text(json.dumps({'step': 0, 'eval': True, 'valid_nll': 9.0})
                                   + '\n{"step": 1, "disc_lo')  # and a torn line
  experiment.train(cfg, str(w))
  rows = writers.MetricWriter(str(w)).read()
  assert [r['step'] for r in rows if r.get('eval')] == [0, 2]
  assert rows[0]['valid_nll'] != 9.0
  # Different flags on that workdir are refused even without a checkpoint.
  for f in (w / 'checkpoints').iterdir():
    f.unlink()
  with pytest.raises(experiment.ConfigError, match='different config'):
    experiment.train(cfg.replace(gamma=0.5), str(w))


def test_torn_metrics_line_is_dropped_on_resume(tiny_corpus, tmp_path):
  cfg = tiny_config(*tiny_corpus, num_steps=4, checkpoint_every=2)
  a, b = str(tmp_path / 'a'), str(tmp_path / 'b')
  experiment.train(cfg, a)
  experiment.train(cfg.replace(num_steps=2), b)
  with open(os.path.join(b, 'metrics.jsonl'), 'a') as f:
    f.write('{"step": 3, "disc_loss": 0.6')  # a full disk cut this write
  experiment.train(cfg, b)
  _assert_same_ckpt(checkpoint.path_for(os.path.join(a, 'checkpoints'), 4),
                    checkpoint.path_for(os.path.join(b, 'checkpoints'), 4))
  for line in open(os.path.join(b, 'metrics.jsonl')):
    json.loads(line)


def test_leftover_temporaries_are_removed_and_best_is_written_with_the_save(
    tiny_corpus, tmp_path):
  cfg = tiny_config(*tiny_corpus, num_steps=4, checkpoint_every=2, eval_every=2)
  w = str(tmp_path / 'w')
  experiment.train(cfg.replace(num_steps=2), w)
  ck = os.path.join(w, 'checkpoints')
  stale = os.path.join(ck, '.tmp-abc123ckpt_000000004.npz')
  with open(stale, 'wb') as f:
    f.write(b'\0' * 100000)  # a killed write's temporary
  experiment.train(cfg, w)
  assert not os.path.exists(stale)
  meta = checkpoint.read_meta(os.path.join(ck, 'best.npz'))
  assert meta['step'] == meta['best']['step']  # best.npz is the model its meta names
  best_ckpt = checkpoint.path_for(ck, meta['step'])
  if os.path.exists(best_ckpt):
    _assert_same_ckpt(best_ckpt, os.path.join(ck, 'best.npz'))


def test_a_second_launch_on_a_busy_workdir_stops_naming_the_holder(tmp_path):
  w = tmp_path / 'w'
  w.mkdir()
  sleeper = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])
  try:
    (w / '.lock').write_text(json.dumps({'host': os.uname().nodename, 'pid': sleeper.pid,
                                         'time': time.time()}))
    rc, _, err = launch(f'--workdir={w}', *ORACLE_RUN)
    assert_clean_error(rc, err, f'is in use by pid {sleeper.pid}')
    assert rc == 2 and not (w / 'checkpoints').exists()
  finally:
    sleeper.kill()
    sleeper.wait()
  # The holder is gone (kill -9): the lock is stale and taken over.
  rc, _, err = launch(f'--workdir={w}', *ORACLE_RUN)
  assert rc == 0, err
  assert not (w / '.lock').exists()


@pytest.mark.slow
def test_disk_full_is_an_error_line_and_the_run_resumes(tmp_path):
  """ENOSPC while writing a checkpoint: `error: PATH: ...`, exit 2, resumable."""
  w = tmp_path / 'w'
  args = [f'--workdir={w}', *ORACLE_RUN, '--num_steps=4']
  code = ('import errno, sys; sys.argv = ["launch.py"] + sys.argv[1:]; '
          f'sys.path.insert(0, {REPO!r}); import launch; '
          'from scratchgan_jax import checkpoint as c; real = c.atomic_write_bytes\n'
          'def full(path, payload):\n'
          '  if "ckpt_000000004" in path:\n'
          '    raise OSError(errno.ENOSPC, "No space left on device", path)\n'
          '  return real(path, payload)\n'
          'c.atomic_write_bytes = full; launch.run()')
  p = subprocess.run([sys.executable, '-c', code, *args], capture_output=True, text=True,
                     env=dict(os.environ, JAX_PLATFORMS='cpu'), timeout=300)
  assert_clean_error(p.returncode, p.stderr, 'No space left on device')
  assert p.returncode == 2 and 'ckpt_000000004.npz' in p.stderr
  rc, _, err = launch(*args)  # space is back: resumes from step 2
  assert rc == 0, err
  rc, _, err = launch(*[a.replace(str(w), str(tmp_path / 'ref')) for a in args])
  assert rc == 0, err
  _assert_same_ckpt(checkpoint.path_for(str(w / 'checkpoints'), 4),
                    checkpoint.path_for(str(tmp_path / 'ref' / 'checkpoints'), 4))


@pytest.mark.parametrize('args,pattern', [
    (['--seed=-1'], '--seed=-1: must be >= 0'),
    (['--oracle_seed=-1'], '--oracle_seed=-1: must be >= 0'),
    (['--num_devices=-2'], '--num_devices=-2: must be >= 0'),
    (['--grad_chunks=-1'], '--grad_chunks=-1: must be >= 0'),
    (['--dataset=text'], '--dataset=text needs --train_path'),
    (['--dataset=text', '--train_path={d}/nope.txt'], 'nope.txt: file not found'),
])
def test_bad_training_input_exits_2_and_writes_nothing(tmp_path, args, pattern):
  args = [a.format(d=tmp_path) for a in args]
  rc, _, err = launch(f'--workdir={tmp_path}/w', *ORACLE_RUN, *args)
  assert_clean_error(rc, err, pattern)
  assert rc == 2 and not (tmp_path / 'w').exists()


@pytest.fixture(scope='module')
def oracle_run(tmp_path_factory):
  w = tmp_path_factory.mktemp('orun') / 'w'
  rc, _, err = launch(f'--workdir={w}', *ORACLE_RUN)
  assert rc == 0, err
  return w


@pytest.mark.parametrize('args,pattern', [
    (['--mode=sample', '--num_samples=0'], '--num_samples=0: must be > 0'),
    (['--mode=sample', '--temperature=0'], '--temperature=0.0: must be > 0'),
    (['--mode=sample', '--temperature=-1'], '--temperature=-1.0: must be > 0'),
    (['--mode=evaluate', '--eval_num_samples=0'], '--eval_num_samples=0: must be > 0'),
    (['--mode=sample', '--checkpoint={d}/foreign.npz'], 'not a scratchgan-jax checkpoint'),
    (['--mode=evaluate', '--metrics=bleu'], '--metrics=bleu: not defined on the oracle'),
])
def test_bad_sampling_input_on_the_default_experiment(oracle_run, tmp_path, args, pattern):
  np.savez(tmp_path / 'foreign.npz', x=np.zeros(3))
  before = sorted(os.listdir(oracle_run))
  rc, _, err = launch(f'--workdir={oracle_run}', *[a.format(d=tmp_path) for a in args])
  assert_clean_error(rc, err, pattern)
  assert rc == 2 and sorted(os.listdir(oracle_run)) == before


def test_oracle_run_samples_and_evaluates(oracle_run):
  """The default experiment's dataset end to end: train, sample, evaluate."""
  rc, out, err = launch('--mode=sample', f'--workdir={oracle_run}', '--num_samples=3')
  assert rc == 0, err
  rows = [l.split() for l in out.splitlines()]
  assert len(rows) == 3 and all(len(r) == 5 and all(0 <= int(t) < 30 for t in r)
                                for r in rows)
  rc, out, err = launch('--mode=evaluate', f'--workdir={oracle_run}', '--eval_num_samples=50',
                        '--metrics=nll_oracle,nll_test,novelty')
  assert rc == 0, err
  res = json.loads((oracle_run / 'eval' / 'metrics.json').read_text())
  assert res['nll_oracle'] > 0 and res['nll_test'] > 0
  # Novelty is measured against the training ids (it used to see no training
  # data on the oracle): with 30 tokens, every sample shares n-grams with it.
  assert res['novelty']['mean_longest_match'] >= 1


@pytest.mark.slow
def test_sample_without_workdir_finds_the_default_run(tmp_path):
  rc, _, err = launch(*ORACLE_RUN, cwd=str(tmp_path))  # trains runs/oracle_scratchgan
  assert rc == 0, err
  assert (tmp_path / 'runs' / 'oracle_scratchgan' / 'checkpoints').is_dir()
  rc, out, err = launch('--mode=sample', '--num_samples=2', cwd=str(tmp_path))
  assert rc == 0, err
  assert len(out.splitlines()) == 2


@pytest.mark.slow
def test_resume_against_changed_data_is_refused(tmp_path):
  (tmp_path / 't.txt').write_text('\n'.join(TINY_SENTENCES * 3) + '\n')
  common = [f'--workdir={tmp_path}/w', *TINY, '--dataset=text',
            f'--train_path={tmp_path}/t.txt', f'--valid_path={tmp_path}/t.txt']
  rc, _, err = launch(*common)
  assert rc == 0, err
  # Same words, same vocabulary, another order: no longer the same run.
  (tmp_path / 't.txt').write_text('\n'.join(TINY_SENTENCES[::-1] * 3) + '\n')
  rc, _, err = launch(*common, '--num_steps=4')
  assert_clean_error(rc, err, 'the training data changed since this run started')
  rc, _, err = launch(*common, '--num_steps=4', '--allow_data_change')
  assert rc == 0, err


def test_text_edge_cases(tmp_path):
  p = tmp_path / 'x.txt'
  p.write_bytes('\ufeffhello world\nsplit\u2028inside one line\nform\x0cfeed\n'.encode())
  lines = data.read_lines(str(p))
  assert lines == ['hello world', 'split inside one line', 'form feed']
  g = tmp_path / 'g.txt'
  g.write_bytes('\ufeff2 2\nhello 1 2\nwor\u2028ld 3 4\n'.encode())
  vocab = data.Vocab((' ', '<unk>', 'hello', 'wor\u2028ld'))
  emb = data.load_glove(str(g), vocab, 0)
  np.testing.assert_array_equal(emb[2], [1, 2])
  np.testing.assert_array_equal(emb[3], [3, 4])


def test_log_files_do_not_pile_up_across_runs_in_one_process(tiny_corpus, tmp_path):
  from absl import logging
  cfg = tiny_config(*tiny_corpus, num_steps=2)
  a, b = str(tmp_path / 'a'), str(tmp_path / 'b')
  experiment.train(cfg, a)
  experiment.train(cfg, b)
  logging.warning('a line logged after both runs')  # a notebook's later output
  for w in (a, b):
    assert 'after both runs' not in open(os.path.join(w, 'log.txt')).read()
  files = [getattr(h, 'baseFilename', '') for h in logging.get_absl_logger().handlers]
  assert not [f for f in files if f.startswith(str(tmp_path))]


@pytest.mark.slow
@pytest.mark.parametrize('dataset,objective', [('oracle', 'gan'), ('text', 'mle')])
def test_kill_9_at_random_moments_then_resume_equals_uninterrupted(tmp_path, dataset,
                                                                   objective):
  """Real runs killed with SIGKILL at random times (between checkpoints and
  during writes), restarted each time, end with the uninterrupted model."""
  (tmp_path / 't.txt').write_text('\n'.join(TINY_SENTENCES * 3) + '\n')
  ds = (ORACLE_RUN if dataset == 'oracle' else
        [*TINY, '--dataset=text', f'--train_path={tmp_path}/t.txt',
         f'--valid_path={tmp_path}/t.txt'])
  args = [*ds, f'--objective={objective}', '--num_steps=30', '--checkpoint_every=3',
          '--eval_every=6', '--log_every=1']
  rc, _, err = launch(f'--workdir={tmp_path}/ref', *args)
  assert rc == 0, err
  rng = random.Random(0)
  env = dict(os.environ, JAX_PLATFORMS='cpu')
  w = tmp_path / 'w'
  cmd = [sys.executable, os.path.join(REPO, 'launch.py'), f'--workdir={w}', *args]

  def logged_steps():
    try:
      return len((w / 'metrics.jsonl').read_text().splitlines())
    except FileNotFoundError:
      return 0

  # Kill at random points of progress (not wall time: the machine may be busy),
  # then once more a few milliseconds into a restart, then let it finish.
  kills = 0
  for target in sorted(rng.sample(range(2, 30), 3)):
    p = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 240
    while logged_steps() < target and p.poll() is None and time.time() < deadline:
      time.sleep(rng.uniform(0.0, 0.05))
    if p.poll() is None:
      p.send_signal(signal.SIGKILL)
      kills += 1
    p.wait()
  rc, _, err = launch(*cmd[2:])
  assert rc == 0, err
  assert kills >= 2
  _assert_same_ckpt(checkpoint.path_for(str(tmp_path / 'ref' / 'checkpoints'), 30),
                    checkpoint.path_for(str(tmp_path / 'w' / 'checkpoints'), 30))
  ref_rows = writers.MetricWriter(str(tmp_path / 'ref')).read()
  rows = writers.MetricWriter(str(tmp_path / 'w')).read()
  strip = lambda rs: [{k: v for k, v in r.items() if k != 'steps_per_s'} for r in rs]
  assert strip(rows) == strip(ref_rows)


@pytest.mark.parametrize('sig,code', [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_sigint_and_sigterm_save_a_checkpoint_and_the_rerun_resumes(tmp_path, sig, code):
  """Ctrl-C (or a scheduler's SIGTERM) between checkpoints: the step in flight
  finishes, is saved, one line says so; the rerun resumes and ends with the
  uninterrupted model."""
  args = [*ORACLE_RUN, '--num_steps=40', '--checkpoint_every=1000', '--eval_every=1000',
          '--log_every=1']
  w = tmp_path / 'w'
  cmd = [sys.executable, os.path.join(REPO, 'launch.py'), f'--workdir={w}', *args]
  p = subprocess.Popen(cmd, env=dict(os.environ, JAX_PLATFORMS='cpu'),
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
  deadline = time.time() + 240
  while time.time() < deadline and p.poll() is None:
    rows = (w / 'metrics.jsonl').read_text().splitlines() if (w / 'metrics.jsonl').exists() else []
    if len(rows) >= 6:  # the step-0 evaluation and five steps
      break
    time.sleep(0.02)
  p.send_signal(sig)
  out, err = p.communicate(timeout=120)
  assert p.returncode == code, err[-2000:]
  assert 'Traceback' not in err and 'KeyboardInterrupt' not in err, err[-2000:]
  last = err.strip().splitlines()[-1]
  assert 'checkpoint saved; rerun the same command to resume' in last, last
  step = int(last.split('interrupted at step ')[1].split(';')[0])
  assert 5 <= step < 40
  assert checkpoint.all_steps(str(w / 'checkpoints')) == [step]
  rc, _, err = launch(f'--workdir={w}', *args)
  assert rc == 0, err
  assert f'resuming from step {step}' in err
  rc, _, err = launch(f'--workdir={tmp_path}/ref', *args)
  assert rc == 0 and 'starting fresh' in err, err
  _assert_same_ckpt(checkpoint.path_for(str(tmp_path / 'ref' / 'checkpoints'), 40),
                    checkpoint.path_for(str(w / 'checkpoints'), 40))


def test_a_signal_during_a_log_files_flush_is_not_a_logging_error(tmp_path, capfd):
  """A signal whose handler runs while the log file's buffer is being flushed
  (the write system call interrupted by the signal) must not write through the
  same buffered file: that is 'RuntimeError: reentrant call' and a '--- Logging
  error ---' traceback on the user's terminal (seen in CI)."""
  import io
  import logging as std_logging
  stop = experiment.StopSignals()

  class Raw(io.RawIOBase):  # the file whose write the signal interrupts
    def __init__(self):
      self.fired, self.data = False, b''
    def writable(self):
      return True
    def write(self, b):
      if not self.fired:
        self.fired = True
        stop._handle(signal.SIGINT, None)  # pylint: disable=protected-access
      self.data += bytes(b)
      return len(b)

  raw = Raw()
  handler = std_logging.StreamHandler(io.TextIOWrapper(io.BufferedWriter(raw)))
  root = std_logging.getLogger()
  root.addHandler(handler)
  try:
    std_logging.getLogger('absl').warning('a line in the log file')
  finally:
    root.removeHandler(handler)
  err = capfd.readouterr().err
  assert raw.fired and stop.received() == signal.SIGINT
  assert 'Logging error' not in err and 'reentrant' not in err, err
  assert 'SIGINT received: stopping after this step' in err
  assert b'a line in the log file' in raw.data


def test_atomic_writes_get_the_usual_mode_and_leave_the_umask_alone(tmp_path):
  """Files of a run are readable by the group like any other file (0666 less
  the umask, not mkstemp's 0600), and writing them does not touch the
  process umask (importing the package used to set it twice)."""
  from scratchgan_jax import checkpoint as ckpt_lib
  old = os.umask(0o027)
  try:
    ckpt_lib.atomic_write_text(str(tmp_path / 'a.json'), '{}')
    assert os.stat(tmp_path / 'a.json').st_mode & 0o777 == 0o640
    assert os.umask(0o027) == 0o027
  finally:
    os.umask(old)
  assert [f for f in os.listdir(tmp_path) if f.startswith('.tmp-')] == []
