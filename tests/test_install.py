"""`pip install .` (not editable) in a fresh virtual environment outside the
repository: the console command, `python -m scratchgan_jax`, the shipped
experiments by name, sample, evaluate and a sweep all work without a clone."""
import os
import site
import subprocess
import sys

import pytest

from conftest import REPO
from conftest import ORACLE_TINY, TINY


def _setuptools_ok():
  try:
    import setuptools  # pylint: disable=import-outside-toplevel
    return int(setuptools.__version__.split('.')[0]) >= 77
  except ImportError:
    return False


@pytest.mark.slow
def test_the_installed_wheel_trains_samples_evaluates_and_sweeps_without_a_clone(tmp_path):
  dist, venv, work = tmp_path / 'dist', tmp_path / 'venv', tmp_path / 'work'
  work.mkdir()
  iso = ['--no-build-isolation'] if _setuptools_ok() else []
  subprocess.run([sys.executable, '-m', 'pip', 'wheel', '-q', '--no-deps', *iso, '-w',
                  str(dist), REPO], check=True, timeout=600)
  wheel = next(dist.glob('scratchgan_jax-*.whl'))
  subprocess.run([sys.executable, '-m', 'venv', '--without-pip', str(venv)], check=True)
  py = str(venv / 'bin' / 'python')
  target = subprocess.run([py, '-c', 'import sysconfig; print(sysconfig.get_path("purelib"))'],
                          capture_output=True, text=True, check=True).stdout.strip()
  # The wheel alone; its dependencies (jax, haiku...) come from this environment
  # through a .pth, so the test needs no network.
  subprocess.run([sys.executable, '-m', 'pip', 'install', '-q', '--no-deps',
                  '--target', target, str(wheel)], check=True, timeout=600)
  with open(os.path.join(target, '_deps_from_test_env.pth'), 'w') as f:
    f.write('\n'.join(site.getsitepackages()) + '\n')
  # pip --target leaves console scripts in target/bin; put them on PATH.
  env = {k: v for k, v in os.environ.items() if k != 'PYTHONPATH'}
  env.update(JAX_PLATFORMS='cpu', PATH=f'{target}/bin{os.pathsep}{venv}/bin{os.pathsep}'
             + os.environ.get('PATH', ''))

  def run(*cmd):
    p = subprocess.run(list(cmd), cwd=work, env=env, capture_output=True, text=True,
                       timeout=600)
    assert p.returncode == 0, (cmd, p.stderr[-3000:])
    return p.stdout, p.stderr

  where, _ = run(py, '-c', 'import scratchgan_jax; print(scratchgan_jax.__file__)')
  assert where.startswith(target), where  # the installed copy, not the clone
  out, _ = run(py, f'{target}/bin/scratchgan', '--help')
  assert 'oracle_scratchgan' in out and 'coco_scratchgan' in out
  tiny = [*TINY, *ORACLE_TINY, '--selection_metric=auto']
  run(py, f'{target}/bin/scratchgan', '--experiment=oracle_scratchgan', *tiny, '--workdir=w')
  out, err = run(py, '-m', 'scratchgan_jax', '--mode=sample', '--workdir=w', '--num_samples=3')
  assert len(out.strip().splitlines()) == 3 and 'best.npz' in err
  run(py, '-m', 'scratchgan_jax', '--mode=evaluate', '--workdir=w',
      '--metrics=nll_oracle,length', '--eval_num_samples=50')
  assert (work / 'w' / 'eval' / 'metrics.json').exists()
  out, _ = run(py, f'{target}/bin/scratchgan-sweep', '--out=sw', '--grid', 'gamma=0.5,0.9',
               '--', '--experiment=oracle_scratchgan', *tiny)
  assert '2 runs, 2 points' in out
