"""Shared fixtures and helpers: a tiny text corpus and config, the command line as
a user runs it, the ../shared data path, and the suite-time record."""
import os
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED_DATA = os.environ.get('SCRATCHGAN_SHARED_DATA',
                             os.path.join(REPO, '..', 'shared', 'data'))
sys.path.insert(0, REPO)

TINY_SENTENCES = [
    'the cat sat on the mat',
    'the dog sat on the log',
    'a cat ate the fish',
    'a dog ate the bone',
    'the bird sang a song',
    'the cat saw the dog',
    'a bird saw a cat',
    'the dog ate the fish',
]


# The command line as a user runs it (tests of launch.py).
TINY = ['--max_length=8', '--batch_size=8', '--gen_feature_size=8',
        '--num_layers_gen=1', '--disc_feature_size=8',
        '--trainable_embedding_size=4', '--num_steps=2', '--eval_every=2',
        '--checkpoint_every=2', '--log_every=1', '--num_eval_samples=8',
        '--selection_metric=valid_nll']


def launch(*args, env=None, cwd=None):
  e = dict(os.environ, JAX_PLATFORMS='cpu', **(env or {}))
  p = subprocess.run([sys.executable, os.path.join(REPO, 'launch.py'), *args],
                     capture_output=True, text=True, env=e, cwd=cwd, timeout=300)
  return p.returncode, p.stdout, p.stderr


def assert_clean_error(rc, err, pattern):
  assert rc == 2, (rc, err[-2000:])
  assert 'Traceback' not in err, err
  lines = [l for l in err.splitlines() if l.startswith('error: ')]
  assert len(lines) == 1, err
  assert pattern in lines[0], lines[0]


ORACLE_TINY = ['--dataset=oracle', '--oracle_vocab_size=30', '--oracle_length=5',
               '--oracle_num_train=40', '--oracle_num_valid=40']


def poison_updates(monkeypatch, poison):
  """Makes every compiled update step pass its (state, metrics) through
  `poison(state, metrics) -> (state, metrics)`: the faults of a real run
  (NaN losses or parameters) without changing the library."""
  from scratchgan_jax import train
  real = train.compile_update

  def poisoned(setup, mesh, donate=True):
    update = real(setup, mesh, donate)
    return lambda state, batch: poison(*update(state, batch))

  monkeypatch.setattr(train, 'compile_update', poisoned)


def shared(*parts):
  path = os.path.join(SHARED_DATA, *parts)
  if not os.path.exists(path):
    pytest.skip(f'needs ../shared/data ({os.path.join(*parts)} not found)')
  return path


@pytest.fixture
def tiny_corpus(tmp_path):
  train = tmp_path / 'train.txt'
  valid = tmp_path / 'valid.txt'
  train.write_text('\n'.join(TINY_SENTENCES * 4) + '\n', encoding='utf-8')
  valid.write_text('\n'.join(TINY_SENTENCES[:4]) + '\n', encoding='utf-8')
  return str(train), str(valid)


def tiny_config(train, valid, **kw):
  from scratchgan_jax.config import Config
  base = dict(dataset='text', train_path=train, valid_path=valid, max_length=8,
              batch_size=8, num_steps=4, gen_feature_size=16, num_layers_gen=2,
              disc_feature_size=16, trainable_embedding_size=8, gen_lr=1e-2,
              disc_lr=1e-2, log_every=2, eval_every=2, checkpoint_every=2,
              num_eval_samples=16, selection_metric='valid_nll')
  base.update(kw)
  return Config(**base).validate()


# ----------------------------------------------------------------------------
# With SCRATCHGAN_RECORD_SUITE=FILE, a session appends one JSON line to FILE:
# which tests it selected (-m), how many passed / failed / were skipped, and its
# wall time, with the commit, date, machine and library versions
# (benchmarks/suite_report.py renders the README's table from it).

_SESSION = {}


def pytest_collection_modifyitems(session, config, items):
  """The longest tests first, so that with several workers (-n) none of them
  starts last and leaves the others idle: the study's reproduction, then the
  other slow tests, then the rest (stable within each group)."""
  def rank(item):
    if 'test_reproduce_quick' in item.nodeid:
      return 0
    return 1 if item.get_closest_marker('slow') else 2
  items.sort(key=rank)


def pytest_configure(config):
  """One persistent XLA compilation cache for the whole session, shared by the
  workers and by every launch.py the tests start (they compile the same small
  programs over and over; a compiled program is the same bits from the cache).
  Removed at the end; SCRATCHGAN_TEST_CACHE=0 turns it off, an existing
  JAX_COMPILATION_CACHE_DIR is used as it is."""
  if hasattr(config, 'workerinput') or os.environ.get('SCRATCHGAN_TEST_CACHE') == '0':
    return  # workers inherit the controller's environment
  if 'JAX_COMPILATION_CACHE_DIR' not in os.environ:
    import tempfile
    _SESSION['cache'] = tempfile.mkdtemp(prefix='scratchgan-test-xla-cache-')
    os.environ['JAX_COMPILATION_CACHE_DIR'] = _SESSION['cache']
  os.environ.setdefault('JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS', '0')
  os.environ.setdefault('JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES', '0')


def pytest_unconfigure(config):
  if 'cache' in _SESSION:
    import shutil
    shutil.rmtree(_SESSION.pop('cache'), ignore_errors=True)


def pytest_sessionstart(session):
  import time
  _SESSION['start'] = time.time()


def pytest_sessionfinish(session, exitstatus):
  out = os.environ.get('SCRATCHGAN_RECORD_SUITE')
  if not out or hasattr(session.config, 'workerinput'):  # the controller writes, not workers
    return
  import json
  import platform
  import time

  import jax
  sys.path.insert(0, os.path.join(REPO, 'benchmarks'))
  import host
  reporter = session.config.pluginmanager.get_plugin('terminalreporter')
  stats = reporter.stats if reporter else {}
  count = lambda k: len(stats.get(k, []))
  row = dict(suite=session.config.getoption('markexpr') or 'all',
             passed=count('passed'), failed=count('failed'), skipped=count('skipped'),
             errors=len(stats.get('error', [])), exitstatus=int(exitstatus),
             seconds=round(time.time() - _SESSION.get('start', time.time()), 1),
             workers=getattr(session.config.option, 'numprocesses', None) or 1,
             command=' '.join(['pytest'] + list(session.config.invocation_params.args)),
             cpus=os.cpu_count(), python=platform.python_version(), jax=jax.__version__,
             pytest=pytest.__version__, **host.describe())
  with open(out, 'a', encoding='utf-8') as f:
    f.write(json.dumps(row) + '\n')
