"""The sweep tool and the study's reproduction script (`--quick`), end to end."""
import csv
import glob
import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest

from conftest import REPO
from scratchgan_jax import sweep


def test_search_spaces():
  space = sweep.parse_space(['gen_lr=log:1e-4:1e-2', 'batch_size=128,256', 'gamma=uniform:0:1'])
  pts = sweep.random_points(space, 20, seed=3)
  assert pts == sweep.random_points(space, 20, seed=3)  # reproducible
  assert all(1e-4 <= p['gen_lr'] <= 1e-2 and p['batch_size'] in (128, 256)
             and 0 <= p['gamma'] <= 1 for p in pts)
  assert len({p['gen_lr'] for p in pts}) > 10
  grid = sweep.grid_points(sweep.parse_space(['a=1,2', 'b=x,y,z']))
  assert len(grid) == 6 and {'a': 2, 'b': 'z'} in grid
  assert len({sweep.point_name(p) for p in grid}) == 6
  for bad in (['gen_lr'], ['gen_lr=log:0:1'], ['gen_lr=log:1e-2:1e-4'], ['a=1', 'a=2'], ['a=']):
    with pytest.raises(sweep.SweepError):
      sweep.parse_space(bad)
  with pytest.raises(sweep.SweepError, match='--random'):
    sweep.grid_points(sweep.parse_space(['gen_lr=log:1e-4:1e-2']))


def test_zipped_flags_move_together_and_cross_a_grid():
  pts = sweep.points_from_args(['gamma=0.5,0.9'], None, 0, 0,
                               ['batch_size=128,256,512', 'num_steps=1000,500,250'])
  assert len(pts) == 6
  assert {(p['batch_size'], p['num_steps']) for p in pts} == {(128, 1000), (256, 500), (512, 250)}
  assert {p['gamma'] for p in pts} == {0.5, 0.9}
  assert len({sweep.point_name(p) for p in pts}) == 6
  with pytest.raises(sweep.SweepError, match='same length'):
    sweep.points_from_args(None, None, 0, 0, ['batch_size=128,256', 'num_steps=1000'])
  with pytest.raises(sweep.SweepError, match='value lists'):
    sweep.points_from_args(None, None, 0, 0, ['gen_lr=log:1e-4:1e-2'])
  with pytest.raises(sweep.SweepError, match='gamma'):
    sweep.points_from_args(['gamma=0.5'], None, 0, 0, ['gamma=0.9'])


def test_aggregate_over_seeds_sorts_by_the_metric():
  rows = [{'flag.x': 1, 'seed': s, 'm.final': v, 'stable': True}
          for s, v in ((0, 2.0), (1, 4.0))]
  rows += [{'flag.x': 2, 'seed': 0, 'm.final': 1.0, 'stable': False}]
  agg = sweep.aggregate(rows, 'm')
  assert [a['flag.x'] for a in agg] == [2, 1]
  assert agg[1]['m.final'] == 3.0 and agg[1]['m.final.std'] == pytest.approx(2 ** 0.5)  # n - 1
  assert agg[0]['m.final.std'] == 0.0  # one seed
  assert agg[1]['stable'] == '2/2' and agg[0]['stable'] == '0/1'


def test_tables_rebuild_from_a_committed_results_csv(tmp_path):
  """`--report_only` on a results folder without its run folders (the committed
  results/) gives back the same CSV and summary."""
  rows = [{'flag.gen_lr': 6.35e-4, 'flag.end_reward': 'absorb', 'seed': s, 'm.final': v,
           'm.best': v - 0.1, 'final_minus_best': 0.1, 'stable': s == 0, 'wall_seconds': 3.5,
           'workdir': f'runs/x/p_s{s}'} for s, v in ((0, 9.9), (1, 10.3))]
  out = str(tmp_path)
  sweep.write_tables(rows, out, 'm')
  csv_text = open(os.path.join(out, 'results.csv')).read()
  summary = open(os.path.join(out, 'summary.md')).read()
  back = sweep.read_results_csv(out)
  assert back == rows
  assert subprocess.run([sys.executable, os.path.join(REPO, 'scripts', 'sweep.py'), f'--out={out}',
                         '--metric=m', '--report_only'], capture_output=True).returncode == 0
  assert open(os.path.join(out, 'results.csv')).read() == csv_text
  assert open(os.path.join(out, 'summary.md')).read() == summary
  assert '| 10.1 ± 0.2828 |' in summary and '1/2' in summary  # n - 1 over the 2 seeds


def _stand_in_data(tmp_path):
  """Small stand-ins for Texygen's COCO files and ScratchGAN's EMNLP2017 JSON
  files, so the real-text stages are exercised with or without ../shared."""
  coco = tmp_path / 'coco'
  coco.mkdir()
  caps = ['a man riding a wave on top of a surfboard .', 'a cat sitting on a bench .',
          'two dogs play with a red ball in the park .', 'a plate of food on a table .']
  (coco / 'image_coco.txt').write_text('\n'.join(caps * 20) + '\n')
  (coco / 'test_coco.txt').write_text('\n'.join(caps[::-1] * 5) + '\n')
  emnlp = tmp_path / 'emnlp'
  emnlp.mkdir()
  news = ['the government said on Monday that it would not change the law .',
          'he told reporters that the team had played well in the second half .',
          '" I don \' t think that is right , " she said .']
  (emnlp / 'train_first12500.json').write_text(json.dumps([{'s': s} for s in news * 20]))
  (emnlp / 'valid.json').write_text(json.dumps([{'s': s} for s in news[::-1] * 5]))
  return dict(os.environ, JAX_PLATFORMS='cpu', PYTHON=sys.executable, COCO_DIR=str(coco),
              EMNLP_DIR=str(emnlp))


REPRODUCE = [sys.executable, os.path.join(REPO, 'scripts', 'reproduce.py')]


@pytest.mark.slow
def test_reproduce_quick_runs_every_stage_and_resumes(tmp_path):
  out = str(tmp_path / 'study')
  env = _stand_in_data(tmp_path)
  # Stage 9 has its own test (below), so that the two run side by side.
  cmd = REPRODUCE + ['--quick', '--only=1,2,3,4,5,6,7,8', out]
  p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
  assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
  for stage, runs in (('sweep_oracle_a', 2), ('oracle_scratchgan', 1), ('oracle_mle', 1)):
    d = os.path.join(out, stage)
    with open(os.path.join(d, 'results.csv')) as f:
      rows = list(csv.DictReader(f))
    assert len(rows) == runs, stage
    assert all(float(r['nll_oracle.final']) > 0 for r in rows)
    assert '| seeds |' in open(os.path.join(d, 'summary.md')).read()
  assert os.path.exists(os.path.join(out, 'oracle_tradeoff', 'tradeoff.csv'))
  report = open(os.path.join(out, 'coco', 'coco.md')).read()
  for row in ('| ScratchGAN (T = 1) | 64 |', '| MLE (T = 1) | 64 |', '| training text | 80 |'):
    assert row in report, report
  with open(os.path.join(out, 'coco', 'sweep.csv')) as f:
    sweep_rows = list(csv.DictReader(f))
  assert sorted(float(r['temperature']) for r in sweep_rows) == [0.8, 0.8, 1.0, 1.0]
  assert len({r['run'] for r in sweep_rows}) == 2  # both runs are `_<point>_s0`
  assert os.path.exists(os.path.join(out, 'coco', 'bleu5_vs_self_bleu5.png'))
  report = open(os.path.join(out, 'emnlp2017', 'emnlp2017.md')).read()
  for row in ('| ScratchGAN (T = 1) | 64 |', '| MLE (T = 1) | 64 |', '| training text | 60 |'):
    assert row in report, report
  assert os.path.exists(os.path.join(out, 'emnlp2017', 'training_curves.png'))
  assert '| T | ScratchGAN | MLE |' in report, report
  for data in ('coco', 'emnlp2017'):  # both models on seeds 0 and 1, spread at T = 1
    seeds = open(os.path.join(out, data, 'seeds.md')).read()
    assert '| **ScratchGAN** | 2 |' in seeds and '| **MLE** | 2 |' in seeds, seeds
    assert seeds.count('_s1`') == 2, seeds
  ablation = open(os.path.join(out, 'ablation_oracle', 'ablation.md')).read()
  for step in ('0_seqgan_step', '1_large_batch', '2_disc_reg', '3_baseline'):
    assert f'| {step} | 1 |' in ablation, ablation
  assert os.path.exists(os.path.join(out, 'ablation_oracle', 'ablation.png'))
  assert os.path.exists(os.path.join(out, 'ablation_oracle', '0b_small_batch_long', 'summary.md'))
  control = open(os.path.join(out, 'ablation_oracle', 'small_batch_control.md')).read()
  for step in ('0_seqgan_step', '0b_small_batch_1200_steps', '0b_small_batch_long', '1_large_batch'):
    assert f'| {step} | 1 |' in control, control
  with open(os.path.join(out, 'sweep_oracle_batch', 'results.csv')) as f:
    rows = list(csv.DictReader(f))
  assert sorted((r['flag.batch_size'], r['final_step']) for r in rows) == [('16', '4'), ('32', '2')]
  batch = open(os.path.join(out, 'sweep_oracle_batch', 'batch.md')).read()
  assert '| 16 | 4 | fixed' in batch and '| 32 | 2 | sqrt' in batch and '| MLE' in batch, batch
  with open(os.path.join(out, 'oracle_tradeoff_batch', 'tradeoff.csv')) as f:
    kinds = [r['kind'] for r in csv.DictReader(f)]
  assert kinds.count('point') == 2 and kinds.count('mle') == 2  # 2 temperatures of 1 MLE run
  # Rerunning skips every finished run.
  p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
  assert p.returncode == 0
  # One line per sweep folder, each with every run already done.
  assert len(re.findall(r': (\d+) runs, \1 already done', p.stdout)) == 14, p.stdout[-3000:]
  # --only reruns the named stages alone.
  p = subprocess.run(REPRODUCE + ['--quick', '--only=2,7', out], env=env, capture_output=True,
                     text=True, timeout=300)
  assert p.returncode == 0, p.stderr[-2000:]
  stages = [l for l in p.stdout.splitlines() if l.startswith('== ')]
  assert [s.split('.')[0] for s in stages] == ['== 2', '== 7'], stages


@pytest.mark.slow
def test_reproduce_quick_beyond_the_paper(tmp_path):
  """Stage 9 alone: the oracle options as one tied sweep, the perfect-discriminator
  diagnostic with its KL table, and the real-text runs
  the flagfiles do not make (COCO with each baseline at 1,200 steps, EMNLP2017 with each
  baseline at 1,200 steps and the prefix baseline at 2,400), scored and tabulated
  (without stages 5 and 6 the tables hold stage 9's runs only), and the checkpoint
  average of the 2,400-step run."""
  out = str(tmp_path / 'study')
  p = subprocess.run(REPRODUCE + ['--quick', '--only=9', out], env=_stand_in_data(tmp_path),
                     capture_output=True, text=True, timeout=600)
  assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
  with open(os.path.join(out, 'beyond_paper', 'oracle', 'results.csv')) as f:
    rows = list(csv.DictReader(f))
  options = sorted((r['flag.baseline_type'], r['flag.entropy_bonus'], r['flag.normalize_advantages'],
                    r['flag.gen_updates_per_batch'], r['final_step']) for r in rows)
  assert options == [('loo', '0', 'false', '1', '4'), ('position', '0', 'false', '1', '4'),
                     ('prefix', '0', 'false', '1', '4'), ('scalar', '0', 'false', '2', '2'),
                     ('scalar', '0', 'true', '1', '4'), ('scalar', '0.01', 'false', '1', '4')], options
  for name, baseline in (('coco_scalar_1200', 'scalar'), ('coco_prefix', 'prefix'),
                         ('emnlp2017_scalar_1200', 'scalar'),
                         ('emnlp2017_prefix_1200', 'prefix'), ('emnlp2017_prefix_2400', 'prefix')):
    folder = os.path.join(out, 'beyond_paper', name)
    runs = [d for d in os.listdir(folder) if '_s' in d]
    assert len(runs) == 1, runs
    cfg = json.load(open(os.path.join(folder, runs[0], 'config.json')))
    assert cfg['baseline_type'] == baseline and cfg['num_steps'] == 4, cfg  # --quick's steps win
    assert os.path.exists(os.path.join(folder, runs[0], 'eval', 'metrics.json'))
  table = open(os.path.join(out, 'beyond_paper', 'coco_prefix_eval.md')).read()
  assert ('| **default (scalar baseline), 1,200 steps** | 1 |' in table
          and '| **prefix baseline, 1,200 steps** | 1 |' in table
          and '4,800' not in table and 'MLE' not in table), table
  table = open(os.path.join(out, 'beyond_paper', 'emnlp2017_prefix_eval.md')).read()
  assert ('| **scalar baseline, 1,200 steps** | 1 |' in table
          and '| **prefix baseline, 1,200 steps** | 1 |' in table
          and '| **prefix baseline, 2,400 steps** | 1 |' in table and '4,800' not in table), table
  # The checkpoint average of the 2,400-step run: its two kept checkpoints and their mean.
  table = open(os.path.join(out, 'beyond_paper', 'emnlp2017_average_probe.md')).read()
  assert len([l for l in table.splitlines() if '| 2, 4 |' in l]) == 1, table
  # The perfect-discriminator diagnostic: each setting's run in the KL probe's table
  # (stages 2 and 3 did not run here, so no default or MLE row).
  table = open(os.path.join(out, 'beyond_paper', 'oracle_reverse_kl.md')).read()
  for name in ('disc_width64', 'disc_width128', 'oracle_token_disc', 'oracle_log_ratio'):
    assert f'| {name} | 1 |' in table, table
  assert '| default |' not in table and '| mle |' not in table, table
  cfg = json.load(open(glob.glob(os.path.join(out, 'beyond_paper', 'oracle_oracle_log_ratio',
                                              '*_s0', 'config.json'))[0]))
  assert cfg['reward_source'] == 'oracle_log_ratio' and cfg['num_steps'] == 4, cfg


@pytest.mark.parametrize('arg,pattern', [('--only=10', '--only=10: comma-separated stage numbers 1-9'),
                                         ('--only=1,,2', '--only=1,,2'),
                                         ('--fast', 'unrecognized arguments: --fast')])
def test_reproduce_rejects_bad_options(tmp_path, arg, pattern):
  p = subprocess.run(REPRODUCE + [arg, str(tmp_path / 'out')], capture_output=True, text=True,
                     timeout=60)
  assert p.returncode == 2 and pattern in p.stderr, p.stderr
  assert not os.path.exists(tmp_path / 'out')


def test_seeds_report_spreads_each_model_over_its_seeds(tmp_path):
  """scripts/seeds_report.py: mean ± sample std per model; a missing metric is '–'."""
  def metrics(name, fed, bleu5, with_fed=True):
    m = {'bleu': {'bleu2': 0.5, 'bleu3': 0.3, 'bleu4': 0.2, 'bleu5': bleu5},
         'self_bleu': {'self_bleu2': 0.8, 'self_bleu5': 0.2}, 'valid_nll': 6.0,
         'length': {'samples_mean': 10.0}, 'novelty': {'mean_longest_match': 3.0}}
    if with_fed:
      m['fed[use]'] = {'value': fed}
    wd = tmp_path / name / 'eval'
    wd.mkdir(parents=True)
    (wd / 'metrics.json').write_text(json.dumps(m))
    return str(tmp_path / name)

  gan = [metrics('g0', 0.40, 0.08), metrics('g1', 0.38, 0.10), metrics('g2', 0.0, 0.12, False)]
  mle = [metrics('m0', 0.33, 0.15)]
  out = tmp_path / 'seeds.md'
  subprocess.run([sys.executable, os.path.join(REPO, 'scripts', 'seeds_report.py'),
                  f'--out={out}', 'GAN=' + ','.join(gan), 'MLE=' + mle[0]],
                 check=True, capture_output=True)
  rows = {line.split(' | ')[0]: line.split(' | ') for line in out.read_text().splitlines()
          if line.startswith('| ')}
  assert rows['| **GAN**'][1:4] == ['3', '0.390 ± 0.014', '0.500 ± 0.000']  # FED of 2 seeds
  assert rows['| **GAN**'][6] == '0.100 ± 0.020'  # BLEU-5: std with n - 1
  assert rows['| **MLE**'][1:3] == ['1', '0.330']
  assert rows['| GAN: `g2`'][2] == '–'
  bad = subprocess.run([sys.executable, os.path.join(REPO, 'scripts', 'seeds_report.py'),
                        f'--out={out}', 'GAN=' + str(tmp_path / 'nowhere')],
                       capture_output=True, text=True)
  assert bad.returncode != 0 and 'nowhere' in bad.stderr


def test_the_package_has_no_import_cycle():
  """Every `scratchgan_jax` import (module level or inside a function) points
  down a graph without cycles: each module has one place in the layering."""
  import ast
  pkg = os.path.join(REPO, 'scratchgan_jax')
  graph = {}
  for f in os.listdir(pkg):
    if not f.endswith('.py') or f == '__main__.py':
      continue
    name = f[:-3]
    deps = set()
    for node in ast.walk(ast.parse(open(os.path.join(pkg, f), encoding='utf-8').read())):
      if isinstance(node, ast.ImportFrom) and node.module == 'scratchgan_jax':
        deps |= {a.name for a in node.names}
      elif isinstance(node, ast.ImportFrom) and (node.module or '').startswith('scratchgan_jax.'):
        deps.add(node.module.split('.')[1])
    graph[name] = deps - {name}
  state = {}

  def visit(n, path):
    if state.get(n) == 'done':
      return
    assert state.get(n) != 'open', ' -> '.join(path + [n])
    state[n] = 'open'
    for d in sorted(graph.get(n, ())):
      visit(d, path + [n])
    state[n] = 'done'

  for n in sorted(graph):
    visit(n, [])


def test_candidates_report_tabulates_final_and_best_over_seeds(tmp_path):
  """scripts/candidates_report.py: per label, final/best over evaluations and
  the sample std (n - 1) over its files; labels may contain '='."""
  def write(name, evals):
    rows = [{'step': 50 * i + 50, 'steps_per_s': 2.0} for i in range(len(evals))]
    rows += [{'step': s, 'eval': True, 'nll_oracle': v, 'nll_test': 7.0} for s, v in evals]
    (tmp_path / name).write_text('\n'.join(json.dumps(r) for r in rows) + '\n')
  write('a_s0.jsonl', [(0, 11.0), (100, 9.0), (200, 10.0)])
  write('a_s1.jsonl', [(0, 11.0), (100, 9.5), (200, 10.4)])
  write('b_s0.jsonl', [(0, 11.0), (100, 10.5)])
  out = tmp_path / 'out'
  subprocess.run([sys.executable, os.path.join(REPO, 'scripts', 'candidates_report.py'),
                  f'--out={out}', f'x=1={tmp_path}/a_s*.jsonl', f'b={tmp_path}/b_s0.jsonl'],
                 check=True, capture_output=True)
  lines = (out / 'candidates.md').read_text().splitlines()
  a = next(l for l in lines if l.startswith('| x=1 |')).split(' | ')
  assert a[1] == '2' and a[2] == '10.20 ± 0.28' and a[3] == '9.25 ± 0.35'  # n - 1
  b = next(l for l in lines if l.startswith('| b |')).split(' | ')
  assert b[1] == '1' and b[2] == '10.50' and b[3] == '10.50'
  subprocess.run([sys.executable, os.path.join(REPO, 'scripts', 'candidates_report.py'),
                  f'--out={out}', '--name=seeds', '--per_seed', '--digits=3',
                  f'x=1={tmp_path}/a_s*.jsonl'], check=True, capture_output=True)
  rows = [l.split(' | ') for l in (out / 'seeds.md').read_text().splitlines() if l.startswith('| x=1')]
  assert [r[0] for r in rows] == ['| x=1', '| x=1: `a_s0.jsonl`', '| x=1: `a_s1.jsonl`']
  assert rows[0][2] == '10.200 ± 0.283' and rows[2][2:4] == ['10.400', '9.500 (100)'], rows
  # Several globs, comma-separated, make one setting (files from two folders).
  subprocess.run([sys.executable, os.path.join(REPO, 'scripts', 'candidates_report.py'),
                  f'--out={out}', '--name=joined',
                  f'ab={tmp_path}/a_s1.jsonl,{tmp_path}/b_s*.jsonl'], check=True, capture_output=True)
  ab = next(l for l in (out / 'joined.md').read_text().splitlines()
            if l.startswith('| ab |')).split(' | ')
  assert ab[1] == '2' and ab[2] == '10.45 ± 0.07', ab
  bad = subprocess.run([sys.executable, os.path.join(REPO, 'scripts', 'candidates_report.py'),
                        f'--out={out}', '--name=joined', f'ab={tmp_path}/a_s*.jsonl,{tmp_path}/typo_*.jsonl'],
                       capture_output=True, text=True)
  assert bad.returncode != 0 and 'typo_' in bad.stderr, bad.stderr


def test_ablation_report_without_the_runs_folders(tmp_path):
  """scripts/ablation_report.py from results.csv alone (the committed form):
  means, sample stds and changes from the csv; the worst NLL-test, which needs
  the runs' metrics.jsonl, is '–' instead of a NaN or a crash."""
  cols = 'seed,nll_oracle.final,nll_oracle.best,nll_test.final,stable,wall_seconds,workdir'
  for name, finals in (('0_small', (10.0, 10.2)), ('1_large', (9.0, 9.4))):
    (tmp_path / name).mkdir()
    rows = [f'{i},{v},{v - 0.1},7.5,True,60,{tmp_path}/gone_{name}_{i}' for i, v in enumerate(finals)]
    (tmp_path / name / 'results.csv').write_text(cols + '\n' + '\n'.join(rows) + '\n')
  subprocess.run([sys.executable, os.path.join(REPO, 'scripts', 'ablation_report.py'),
                  f'--out={tmp_path}', '--name=control', str(tmp_path / '0_small'),
                  str(tmp_path / '1_large')], check=True, capture_output=True)
  lines = (tmp_path / 'control.md').read_text().splitlines()
  large = next(l for l in lines if l.startswith('| 1_large |')).split(' | ')
  assert large[2:5] == ['9.200 ± 0.283', '-0.900', '9.100 ± 0.283'] and large[6] == '–', large


def test_documents_agree_with_the_committed_result_tables():
  """Every `<!-- begin: FILE -->` block of README/RESULTS/BENCHMARKS equals FILE."""
  p = subprocess.run([sys.executable, os.path.join(REPO, 'scripts', 'render_results.py'),
                      '--check'], capture_output=True, text=True)
  assert p.returncode == 0, p.stdout[-3000:] + p.stderr


def test_render_results_check_catches_a_drifted_number(tmp_path, monkeypatch):
  sys.path.insert(0, os.path.join(REPO, 'scripts'))
  import render_results  # pylint: disable=import-outside-toplevel
  (tmp_path / 't.md').write_text('# T\n\n| a | 1.00 |\n')
  monkeypatch.setattr(render_results, 'REPO', str(tmp_path))
  doc = 'x\n<!-- begin: t.md -->\n| a | 1.01 |\n<!-- end: t.md -->\ny\n'
  assert render_results.render(doc) == 'x\n<!-- begin: t.md -->\n| a | 1.00 |\n<!-- end: t.md -->\ny\n'
  (tmp_path / 'RESULTS.md').write_text(doc)
  assert render_results.main(['--check']) == 1
  (tmp_path / 'sub').mkdir()  # a file's relative links are rewritten for the document
  (tmp_path / 'sub' / 'u.md').write_text('# U\n\n![p](p.png) [x](../x.md) [w](https://a.b/c)\n')
  assert render_results.table_text('sub/u.md') == '![p](sub/p.png) [x](x.md) [w](https://a.b/c)\n'
  assert render_results.main([]) == 0 and render_results.main(['--check']) == 0


def test_the_summary_table_is_what_its_script_makes_from_the_files():
  """results/summary.md (the README's table) equals summary_report.py's output
  from the committed metrics, so the front page cannot drift from the runs."""
  p = subprocess.run([sys.executable, os.path.join(REPO, 'scripts', 'summary_report.py')],
                     capture_output=True, text=True)
  assert p.returncode == 0, p.stderr
  with open(os.path.join(REPO, 'results', 'summary.md'), encoding='utf-8') as f:
    assert p.stdout == f.read()


@pytest.mark.parametrize('script,outputs', [
    ('step_report.py', ('step_cpu.md', 'step_gpu.md', 'emnlp_step.md')),
    ('metrics_report.py', ('metrics_speed.md',)),
    ('suite_report.py', ('test_suites.md',))])
def test_benchmark_tables_are_what_their_scripts_make_from_the_rows(tmp_path, script, outputs):
  """Each committed benchmarks/results/*.md equals its report script's output from
  the committed JSON lines (run on a copy of benchmarks/), so a table cannot be
  edited by hand or left stale after new rows."""
  import shutil  # pylint: disable=import-outside-toplevel
  copy = tmp_path / 'benchmarks'
  shutil.copytree(os.path.join(REPO, 'benchmarks'), copy)
  for name in outputs:
    (copy / 'results' / name).unlink()
  env = dict(os.environ, MPLBACKEND='Agg')
  p = subprocess.run([sys.executable, str(copy / script)], capture_output=True, text=True,
                     env=env, cwd=tmp_path)
  assert p.returncode == 0, p.stderr[-2000:]
  for name in outputs:
    with open(os.path.join(REPO, 'benchmarks', 'results', name), encoding='utf-8') as f:
      assert (copy / 'results' / name).read_text(encoding='utf-8') == f.read(), name


def test_average_probe_scores_each_checkpoint_as_evaluate_does_and_their_mean(tmp_path,
                                                                              tiny_corpus):
  """scripts/average_probe.py: a checkpoint's row equals `--mode=evaluate` of that
  checkpoint (same samples, same metrics), and the last row scores the element-wise
  mean of the generators."""
  import shutil
  import jax
  from conftest import TINY, assert_clean_error, launch
  from scratchgan_jax import experiment
  sys.path.insert(0, os.path.join(REPO, 'scripts'))
  import average_probe
  a = {'w': np.array([1.0, 2.0], np.float32), 'b': np.array([[0.5]], np.float32)}
  b = {'w': np.array([3.0, 5.0], np.float32), 'b': np.array([[1.5]], np.float32)}
  mean = experiment.average_params([a, b])
  np.testing.assert_array_equal(mean['w'], [2.0, 3.5])
  assert mean['b'].dtype == np.float32 and mean['b'][0, 0] == 1.0
  train, valid = tiny_corpus
  wd = str(tmp_path / 'run')
  flags = ['--dataset=text', f'--train_path={train}', f'--valid_path={valid}']
  rc, _, err = launch(*flags, *TINY, '--num_steps=4', f'--workdir={wd}')
  assert rc == 0, err[-2000:]
  out = tmp_path / 'average.jsonl'
  p = subprocess.run([sys.executable, os.path.join(REPO, 'scripts', 'average_probe.py'),
                      f'--workdir={wd}', '--metrics=bleu,length', '--num_samples=32',
                      f'--out={out}'], capture_output=True, text=True, timeout=300,
                     env=dict(os.environ, JAX_PLATFORMS='cpu'))
  assert p.returncode == 0, p.stderr[-2000:]
  rows = [json.loads(l) for l in out.read_text().splitlines()]
  assert [r['generator'] for r in rows] == ['step 2', 'step 4', 'average']
  assert rows[-1]['steps'] == [2, 4]
  rc, _, err = launch('--mode=evaluate', f'--workdir={wd}', '--metrics=bleu,length',
                      '--eval_num_samples=32',
                      f'--checkpoint={wd}/checkpoints/ckpt_000000002.npz')
  assert rc == 0, err[-2000:]
  m = json.load(open(os.path.join(wd, 'eval', 'metrics.json')))
  assert rows[0]['bleu2'] == round(m['bleu']['bleu2'], 5)
  assert rows[0]['length.samples_mean'] == round(m['length']['samples_mean'], 5)
  # --checkpoint=average: the probe's mean of the same (every kept) checkpoints.
  rc, _, err = launch('--mode=evaluate', f'--workdir={wd}', '--metrics=bleu,length',
                      '--eval_num_samples=32', '--checkpoint=average')
  assert rc == 0, err[-2000:]
  m = json.load(open(os.path.join(wd, 'eval', 'metrics.json')))
  assert rows[-1]['bleu2'] == round(m['bleu']['bleu2'], 5), (rows[-1], m['bleu'])
  assert m['source'].startswith('the average of 2 checkpoints') and '(steps 2, 4)' in m['source']
  # The library's average is the leafwise mean of the two checkpoints' generators.
  ck = lambda s: os.path.join(wd, 'checkpoints', f'ckpt_00000000{s}.npz')
  leaves = lambda p: jax.tree_util.tree_leaves(jax.device_get(p))
  _, avg, _ = experiment.load_generator(wd, 'average')
  (_, p2, _), (_, p4, _) = (experiment.load_generator(wd, ck(s)) for s in (2, 4))
  moved = 0.0
  for x, y, z in zip(leaves(avg), leaves(p2), leaves(p4)):
    np.testing.assert_allclose(x, (np.float64(y) + z) / 2, rtol=1e-6, atol=1e-7)
    moved += float(np.abs(y - z).sum())
  assert moved > 0  # two different generators were averaged
  rc, out_text, err = launch('--mode=sample', f'--workdir={wd}', '--checkpoint=average',
                             '--num_samples=3')
  assert rc == 0 and 'the average of 2 checkpoints' in err, err[-2000:]
  assert len(out_text.strip().splitlines()) == 3
  bare = str(tmp_path / 'bare')  # only best.npz left: nothing to average
  shutil.copytree(wd, bare)
  for f in os.listdir(os.path.join(bare, 'checkpoints')):
    if f.startswith('ckpt_'):
      os.remove(os.path.join(bare, 'checkpoints', f))
  rc, _, err = launch('--mode=sample', f'--workdir={bare}', '--checkpoint=average')
  assert_clean_error(rc, err, 'no step checkpoint (ckpt_*.npz) to average')
  # The table: one line per run, the average's gain over the runs' mean.
  feds = (0.30, 0.20, 0.25, 0.40, 0.30, 0.20)
  two = [dict(r, workdir=name, fed=fed, bleu5=0.1, self_bleu5=0.1)
         for (name, r), fed in zip([('run', r) for r in rows] + [('other', r) for r in rows], feds)]
  md = average_probe.table(two)
  assert '| run | 2, 4 | 0.300 / 0.200 | 0.250 | 0.250 | +0.000 | +0.050 |' in md, md
  assert '| **mean ± std over 2 runs** | | | | | -0.075 ± 0.106 | -0.025 ± 0.106 |' in md, md
  # --windows: the mean of the last K, scored against the checkpoints it averages.
  row = lambda g, steps, fed: dict(workdir='w', generator=g, steps=steps, fed=fed,
                                   bleu5=0.1, self_bleu5=0.1)
  md = average_probe.table([row('step 2', [2], 0.3), row('step 4', [4], 0.2),
                            row('step 6', [6], 0.25),
                            row('average of the last 2', [4, 6], 0.15),
                            row('average', [2, 4, 6], 0.22)])
  assert '| w | 2, 4, 6 | 0.300 / 0.200 / 0.250 | 0.250 | 0.220 | -0.030 | +0.020 |' in md, md
  assert ('| w, average of the last 2 | 4, 6 | 0.200 / 0.250 | 0.225 | 0.150 | -0.075 | '
          '-0.050 |') in md, md


def test_sweep_table_averages_each_temperature_over_runs_and_picks_the_named_run(tmp_path):
  """scripts/sweep_table.py: per temperature, mean ± sample std (n - 1) over the
  files of a setting; a file's first run unless `:RUN` names another."""
  sys.path.insert(0, os.path.join(REPO, 'scripts'))
  import sweep_table
  head = 'run,temperature,bleu5,fed[use]/value,self_bleu5\n'
  a, b = tmp_path / 'a.csv', tmp_path / 'b.csv'
  a.write_text(head + 'gan,0.9,0.10,0.40,0.30\ngan,1.0,0.08,0.35,0.20\nmle,1.0,0.50,0.90,0.60\n')
  b.write_text(head + 'gan,0.9,0.14,0.44,0.40\n')
  md = sweep_table.table([('g', [str(a), str(b)]), ('m', [f'{a}:mle'])])
  assert '| **g** | 0.9 | 2 | 0.120 ± 0.028 | 0.350 ± 0.071 | 0.420 ± 0.028 |' in md, md
  assert '| **g** | 1 | 1 | 0.080 | 0.200 | 0.350 |' in md, md
  assert '| **m** | 1 | 1 | 0.500 | 0.600 | 0.900 |' in md, md
  assert '| m: `a.csv (mle)` | 1 | 1 | 0.500 | 0.600 | 0.900 |' in md, md
  with pytest.raises(ValueError, match="no rows of run 'x'"):
    sweep_table.read_sweep(f'{a}:x')
  # A FED-only sweep (`--metrics=fed`): dashes where BLEU was not measured.
  c = tmp_path / 'c.csv'
  c.write_text('run,temperature,fed[use]/value\ngan,1.0,0.07\n')
  md = sweep_table.table([('f', [str(c), str(c)])])
  assert '| **f** | 1 | 2 | – | – | 0.070 ± 0.000 |' in md, md


def test_fed_selection_check_compares_the_rankings_and_the_offset(tmp_path):
  """scripts/fed_selection_check.py: the training-time FED of each checkpoint
  against the probe's 10k FED of the same steps (the probe's average row and
  steps measured one way only ignored); a swapped pair is flagged."""
  sys.path.insert(0, os.path.join(REPO, 'scripts'))
  import fed_selection_check as fsc
  probe = tmp_path / 'probe.jsonl'
  rows = [{'workdir': 'r', 'generator': f'step {s}', 'steps': [s], 'fed': f}
          for s, f in ((400, 0.30), (600, 0.20), (800, 0.25))]
  rows.append({'workdir': 'r', 'generator': 'average', 'steps': [400, 600, 800], 'fed': 0.1})
  probe.write_text(''.join(json.dumps(r) + '\n' for r in rows))
  metrics = tmp_path / 'metrics.jsonl'
  evals = [(200, 0.9), (400, 0.41), (600, 0.30), (800, 0.34)]
  metrics.write_text(''.join(json.dumps({'step': s, 'eval': True, 'fed': f}) + '\n'
                             for s, f in evals) + json.dumps({'step': 800, 'reward': -1}) + '\n')
  c = fsc.compare(fsc.read_training_fed(str(metrics)), fsc.read_probe([str(probe)])['r'])
  assert c['steps'] == [400, 600, 800] and c['same_best'] and c['same_order']
  assert c['offset'] == pytest.approx((0.11 + 0.10 + 0.09) / 3)
  assert c['residual_std'] == pytest.approx(0.01)
  swapped = fsc.compare({400: 0.41, 600: 0.30, 800: 0.29}, {400: 0.30, 600: 0.20, 800: 0.25})
  assert not swapped['same_best'] and not swapped['same_order']
  md = fsc.table([('r', c), ('s', swapped)])
  assert '| **2 runs** | | | | | 1 of 2 | 1 of 2 |' in md, md
  with pytest.raises(ValueError, match='two checkpoints'):
    fsc.compare({400: 0.4}, {400: 0.3, 600: 0.2})
