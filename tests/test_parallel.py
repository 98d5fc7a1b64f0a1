"""Scale-out numerics: device counts and processes do not change the result."""
import os
import socket
import subprocess
import sys

import numpy as np
import pytest

from conftest import REPO


def _flat(path):
  with np.load(path) as z:
    return {k: z[k] for k in z.files}


def _free_port():
  with socket.socket() as s:
    s.bind(('localhost', 0))
    return s.getsockname()[1]


def _script(name):
  return os.path.join(REPO, 'tests', name)


ENV = dict(os.environ, JAX_PLATFORMS='cpu')


@pytest.fixture(scope='module')
def one_device(tmp_path_factory):
  out = str(tmp_path_factory.mktemp('d1') / 'one.npz')
  subprocess.run([sys.executable, _script('device_run.py'), '1', out, 'gan'],
                 check=True, env=ENV, cwd=REPO)
  return _flat(out)


@pytest.mark.slow
@pytest.mark.parametrize('n', [2, 8])
def test_gan_update_identical_on_2_and_8_devices(one_device, tmp_path, n):
  out = str(tmp_path / f'{n}.npz')
  subprocess.run([sys.executable, _script('device_run.py'), str(n), out, 'gan'],
                 check=True, env=ENV, cwd=REPO)
  got = _flat(out)
  for k in one_device:
    np.testing.assert_array_equal(one_device[k], got[k], err_msg=k)


def test_two_processes_equal_one_process(tmp_path):
  port = _free_port()
  two = str(tmp_path / 'two.npz')
  procs = [subprocess.Popen([sys.executable, _script('multiprocess_run.py'), str(i), '2',
                             str(port), '1', two], env=ENV, cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
           for i in range(2)]
  for p in procs:
    out, _ = p.communicate(timeout=300)
    assert p.returncode == 0, out[-3000:]
  one = str(tmp_path / 'one.npz')
  subprocess.run([sys.executable, _script('multiprocess_run.py'), '0', '1', '0', '1', one],
                 check=True, env=ENV, cwd=REPO)
  a, b = _flat(one), _flat(two)
  assert a.keys() == b.keys()
  for k in a:
    np.testing.assert_array_equal(a[k], b[k], err_msg=k)
