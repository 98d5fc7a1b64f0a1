"""launch.py as a user runs it: bad input gets one clear line and a non-zero exit."""
import json
import os
import shutil
import subprocess
import sys

import pytest

from conftest import ORACLE_TINY, REPO, TINY, TINY_SENTENCES, assert_clean_error, launch

@pytest.fixture
def files(tmp_path):
  (tmp_path / 'train.txt').write_text('\n'.join(TINY_SENTENCES * 3) + '\n')
  (tmp_path / 'valid.txt').write_text('\n'.join(TINY_SENTENCES[:3]) + '\n')
  (tmp_path / 'empty.txt').write_text('\n')
  (tmp_path / 'latin1.txt').write_bytes(b'fine line\ncaf\xe9 au lait\n')
  (tmp_path / 'long.txt').write_text('a b c d e f g h i j k l\nshort one\n')
  js = tmp_path / 'json'
  js.mkdir()
  (js / 'train.json').write_text('[{"s": "a b"}, ')
  (js / 'valid.json').write_text('[]')
  return tmp_path


@pytest.mark.parametrize('args,pattern', [
    (['--dataset=text', '--train_path={d}/missing.txt'], 'missing.txt: file not found'),
    (['--dataset=text', '--train_path={d}/empty.txt'], 'empty.txt: file is empty'),
    (['--dataset=text', '--train_path={d}/latin1.txt'], 'latin1.txt: not valid UTF-8 (line 2'),
    (['--dataset=emnlp2017', '--data_dir={d}/json'], 'train.json: malformed JSON'),
    (['--dataset=emnlp2017', '--data_dir={d}/nowhere'], 'nowhere: --data_dir is not a folder'),
    (['--dataset=emnlp2017', '--train_path={d}/json/train.json',
      '--valid_path={d}/json/valid.json'], 'json/train.json: malformed JSON'),
    (['--dataset=emnlp2017', '--train_path={d}/json/train.json'],
     'or both --train_path and --valid_path'),
    (['--dataset=oracle', '--train_path={d}/t.txt'],
     '--train_path/--valid_path only apply to --dataset=text or emnlp2017'),
    (['--dataset=text', '--train_path={d}/long.txt', '--valid_path={d}/valid.txt',
      '--max_length=8'], 'long.txt: sentence 1 has 12 tokens'),
    (['--no_such_flag=1'], "Unknown command line flag 'no_such_flag'"),
    (['--flagfile={d}/nope.cfg'], 'nope.cfg'),
    (['--objective=wat'], 'value should be one of <gan|mle>'),
    (['--batch_size=0'], '--batch_size=0: must be > 0'),
    (['--dataset=oracle', '--embedding_path=x.txt'], '--embedding_path has no meaning'),
    (['--ppmi_embedding_size=4', '--embedding_path=x.txt'],
     '--ppmi_embedding_size and --embedding_path both name'),
    (['--dataset=text'], '--dataset=text needs --train_path'),
    (['--oracle_params={d}/missing.npz', '--selection_metric=auto'],
     'missing.npz: --oracle_params file not found'),
    (['--selection_metric=valid_nll'], '--selection_metric=valid_nll is for text datasets'),
    (['--workdir=gs://bucket/run'], '--workdir=gs://bucket/run: only a local or mounted'),
])
def test_bad_input_gets_one_clear_line(files, tmp_path, args, pattern):
  args = [a.format(d=files) for a in args]
  rc, _, err = launch(f'--workdir={tmp_path}/w', *TINY, *args)
  assert_clean_error(rc, err, pattern)
  assert not os.path.exists(tmp_path / 'w')  # nothing written


def test_batch_not_divisible_by_device_count(tmp_path):
  rc, _, err = launch(f'--workdir={tmp_path}/w', '--batch_size=6', '--grad_chunks=6',
                      '--num_steps=1', env={'JAX_NUM_CPU_DEVICES': '4'})
  assert_clean_error(rc, err, '--batch_size=6 is not divisible by the 4 devices')


def test_train_sample_and_vocabulary_mismatch(files, tmp_path):
  w = str(tmp_path / 'w')
  common = [f'--workdir={w}', *TINY, '--dataset=text',
            f'--valid_path={files}/valid.txt']
  rc, out, err = launch(*common, f'--train_path={files}/train.txt')
  assert rc == 0, err
  assert 'valid_nll' in out  # the summary table
  rc, out, err = launch('--mode=sample', f'--workdir={w}', '--num_samples=4',
                        '--temperature=0.7', '--seed=1')
  assert rc == 0, err
  lines = out.splitlines()
  assert len(lines) == 4
  rc2, out2, _ = launch('--mode=sample', f'--workdir={w}', '--num_samples=4',
                        '--temperature=0.7', '--seed=1')
  assert out2 == out  # deterministic given the seed
  rc, _, _ = launch('--mode=sample', f'--workdir={w}', '--num_samples=3',
                    f'--output={tmp_path}/s.txt')
  assert rc == 0 and len((tmp_path / 's.txt').read_text().splitlines()) == 3
  rc, _, err = launch('--mode=sample', f'--workdir={w}',
                      f'--checkpoint={tmp_path}/none.npz')
  assert_clean_error(rc, err, 'none.npz: checkpoint not found')
  # Same workdir and flags, but the training file changed: its vocabulary no
  # longer matches the checkpoint's, for training and for sampling.
  (files / 'train.txt').write_text('completely new words here\nand more of them\n')
  rc, _, err = launch(*common, f'--train_path={files}/train.txt')
  assert_clean_error(rc, err, 'vocab.json: the vocabulary of this workdir')
  # Sampling reads the workdir's own vocabulary, not the data: still the same.
  rc, out3, err = launch('--mode=sample', f'--workdir={w}', '--num_samples=4',
                         '--temperature=0.7', '--seed=1')
  assert rc == 0 and out3 == out, err
  # A different config in the same workdir is refused too.
  rc, _, err = launch(*common, f'--train_path={files}/valid.txt', '--gamma=0.5')
  assert_clean_error(rc, err, 'holds a run with a different config')


def test_evaluate_a_text_run_and_a_samples_file(files, tmp_path):
  w = str(tmp_path / 'w')
  rc, _, err = launch(f'--workdir={w}', *TINY, '--dataset=text',
                      f'--train_path={files}/train.txt', f'--valid_path={files}/valid.txt')
  assert rc == 0, err
  rc, out, err = launch('--mode=evaluate', f'--workdir={w}', '--eval_num_samples=40',
                        '--metrics=bleu,self_bleu,ppl,length,novelty,lm,rlm,neighbours',
                        '--lm_steps=20')
  assert rc == 0, err
  res = json.load(open(os.path.join(w, 'eval', 'metrics.json')))
  assert res['num_samples'] == 40 and res['bleu']['num_references'] == 3
  assert res['tokenisation'] == 'split on single spaces' and res['lowercased'] is False
  for k in ('bleu2', 'bleu5'):
    assert 0 <= res['bleu'][k] <= 1
  assert res['valid_ppl'] > 1 and res['lm_score'] > 0 and res['reverse_lm_score'] > 0
  nbs = res['neighbours']
  assert nbs and all('ngram3' in e for e in nbs)
  for e in nbs:  # neighbours are distinct training sentences
    for kind in [k for k in e if k != 'sample']:
      texts = [t for t, _ in e[kind]]
      assert len(texts) == len(set(texts)) and set(texts) <= set(TINY_SENTENCES)
  report = open(os.path.join(w, 'eval', 'report.md')).read()
  assert 'Nearest training sentences' in report
  if os.path.exists(os.path.join(w, 'eval', 'length_hist.png')):  # with matplotlib
    assert '![length_hist.png](length_hist.png)' in report
  # Another system's samples: real sentences score BLEU 1 against themselves.
  (tmp_path / 's.txt').write_text('\n'.join(TINY_SENTENCES[:3]) + '\n')
  rc, out, err = launch('--mode=evaluate', f'--workdir={w}', f'--samples_path={tmp_path}/s.txt',
                        '--metrics=bleu,novelty')
  assert rc == 0, err
  res = json.load(open(os.path.join(w, 'eval', 'metrics.json')))
  assert res['bleu']['bleu5'] == pytest.approx(1.0)
  assert res['novelty']['exact_copies'] == 3
  rc, out, err = launch('--mode=evaluate', f'--workdir={w}', '--metrics=bleu',
                        '--temperatures=0.8,1.2', '--eval_num_samples=20')
  assert rc == 0, err
  csv = open(os.path.join(w, 'eval', 'sweep.csv')).read().splitlines()
  assert len(csv) == 3 and csv[0].startswith('run,temperature,bleu2')
  md = open(os.path.join(w, 'eval', 'sweep.md')).read()
  assert '| run | temperature | bleu2' in md and md.count('| w | ') == 2
  # Against a second run whose folder has the same name (two sweep.py runs are
  # both `_<point>_s0`): each curve keeps its own label.
  shutil.copytree(w, tmp_path / 'other' / 'w')
  rc, out, err = launch('--mode=evaluate', f'--workdir={w}', '--metrics=bleu',
                        f'--compare_workdir={tmp_path}/other/w', '--temperatures=1.0',
                        '--eval_num_samples=20')
  assert rc == 0, err
  labels = [l.split(',')[0] for l in
            open(os.path.join(w, 'eval', 'sweep.csv')).read().splitlines()[1:]]
  assert len(labels) == 2 and labels[1] == 'other/w' and labels[0].endswith('/w'), labels
  rc, _, err = launch('--mode=evaluate', f'--workdir={w}', '--metrics=wat')
  assert_clean_error(rc, err, "unknown metric 'wat'")




def test_scoring_a_samples_file_needs_no_training_run(files, tmp_path):
  """Another system's samples, scored against the dataset flags' references."""
  (tmp_path / 'ids.txt').write_text('1 2 3 4 5\n5 4 3 2 1\n0 0 0 0 0\n')
  rc, out, err = launch('--mode=evaluate', f'--workdir={tmp_path}/o', *ORACLE_TINY,
                        f'--samples_path={tmp_path}/ids.txt', '--metrics=nll_oracle,length')
  assert rc == 0, err
  res = json.loads((tmp_path / 'o' / 'eval' / 'metrics.json').read_text())
  assert res['num_samples'] == 3 and res['nll_oracle'] > 0
  assert sorted(os.listdir(tmp_path / 'o')) == ['eval']  # no run is created
  (tmp_path / 'samples.txt').write_text('\n'.join(TINY_SENTENCES[:4]) + '\n')
  rc, out, err = launch('--mode=evaluate', f'--workdir={tmp_path}/t', '--dataset=text',
                        f'--train_path={files}/train.txt', f'--valid_path={files}/valid.txt',
                        f'--samples_path={tmp_path}/samples.txt', '--metrics=bleu,self_bleu')
  assert rc == 0, err
  res = json.loads((tmp_path / 't' / 'eval' / 'metrics.json').read_text())
  assert res['bleu']['bleu2'] > 0.5  # the samples are the training sentences
  assert res['bleu']['num_references'] == 3
  # An empty line is an empty sample (the collapse to empty sentences): it
  # counts in every metric and the report says how many there were.
  (tmp_path / 'samples.txt').write_text('\n'.join(TINY_SENTENCES[:4]) + '\n\n\n')
  rc, out, err = launch('--mode=evaluate', f'--workdir={tmp_path}/t2', '--dataset=text',
                        f'--train_path={files}/train.txt', f'--valid_path={files}/valid.txt',
                        f'--samples_path={tmp_path}/samples.txt', '--metrics=bleu,length')
  assert rc == 0, err
  res2 = json.loads((tmp_path / 't2' / 'eval' / 'metrics.json').read_text())
  assert res2['num_samples'] == 6 and res2['num_empty'] == 2
  assert res2['length']['samples_hist'][0] == 2
  assert res2['bleu']['bleu2'] < res['bleu']['bleu2']
  assert '6 samples (2 empty)' in (tmp_path / 't2' / 'eval' / 'report.md').read_text()
  # Without --samples_path, a folder with no run is still an error.
  rc, _, err = launch('--mode=evaluate', f'--workdir={tmp_path}/nothing')
  assert_clean_error(rc, err, 'must be a training run')


@pytest.mark.parametrize('metric', ['bleu', 'fed', 'self_bleu'])
def test_text_metrics_on_the_oracle_are_a_clear_error(tmp_path, metric):
  (tmp_path / 'ids.txt').write_text('1 2 3 4 5\n')
  rc, _, err = launch('--mode=evaluate', f'--workdir={tmp_path}/o', *ORACLE_TINY,
                      f'--samples_path={tmp_path}/ids.txt', f'--metrics={metric}')
  assert_clean_error(rc, err, f'--metrics={metric}: not defined on the oracle')
  assert rc == 2


def test_sampling_uses_the_best_checkpoint_and_needs_only_the_workdir(files, tmp_path):
  """One rule for sample, evaluate and load_generator (the best, else the
  latest, named in the log), and a text run samples after its data moved,
  from another directory, with a relative --workdir."""
  d = tmp_path / 'data'
  d.mkdir()
  shutil.copy(files / 'train.txt', d / 'train.txt')
  shutil.copy(files / 'valid.txt', d / 'valid.txt')
  args = [*TINY, '--dataset=text', '--train_path=data/train.txt',
          '--valid_path=data/valid.txt', '--num_steps=10', '--eval_every=100',
          '--checkpoint_every=2', '--keep_checkpoints=10']
  rc, _, err = launch('--workdir=run', *args, cwd=tmp_path)
  assert rc == 0, err
  cfg = json.loads((tmp_path / 'run' / 'config.json').read_text())
  assert cfg['train_path'] == str(d / 'train.txt')  # stored absolute
  ck = tmp_path / 'run' / 'checkpoints'
  shutil.copy(ck / 'ckpt_000000002.npz', ck / 'best.npz')  # best: step 2, latest: 10
  shutil.move(str(d), str(tmp_path / 'moved'))  # the data is gone
  elsewhere = tmp_path / 'elsewhere'
  elsewhere.mkdir()
  sample = lambda *a: launch('--mode=sample', '--workdir=../run', '--num_samples=40', *a,
                             cwd=elsewhere)
  rc, default, err = sample()
  assert rc == 0, err
  assert 'best.npz' in err
  rc, best, _ = sample(f'--checkpoint={ck}/best.npz')
  rc2, latest, _ = sample(f'--checkpoint={ck}/ckpt_000000010.npz')
  assert rc == rc2 == 0
  assert default == best != latest
  # Training again needs the data, and says which file is missing.
  rc, _, err = launch('--workdir=../run', *args, cwd=elsewhere)
  assert_clean_error(rc, err, 'train.txt: file not found')


def test_a_text_run_without_flagfile_gets_text_defaults_and_its_own_workdir(files, tmp_path):
  """Not the oracle experiment's batch, sizes, learning rates and workdir."""
  rc, _, err = launch('--dataset=text', f'--train_path={files}/train.txt',
                      f'--valid_path={files}/valid.txt', *TINY, cwd=tmp_path)
  assert rc == 0, err
  cfg = json.loads((tmp_path / 'runs' / 'text_scratchgan' / 'config.json').read_text())
  assert (cfg['gen_lr'], cfg['disc_lr'], cfg['end_reward']) == (3e-4, 1.2e-2, 'absorb')
  assert not (tmp_path / 'runs' / 'oracle_scratchgan').exists()
  assert 'step 1/2 done in' in err  # progress before the first --log_every
  rc, out, _ = launch('--help', cwd=tmp_path)
  assert rc == 0 and 'Defaults shown: oracle_scratchgan.cfg' in out
  assert '--batch_size  (default: 128)' in out and 'coco_scratchgan' in out
  rc, out, _ = launch('--dataset=emnlp2017', '--help', cwd=tmp_path)
  assert 'Defaults shown: emnlp2017_small_scratchgan.cfg' in out
  assert "--train_path  (default: '')" in out  # its data paths are not defaults
  rc, _, err = launch('--flagfile=missing.cfg', cwd=tmp_path)
  assert_clean_error(rc, err, 'missing.cfg')
  assert 'ERROR' not in err and 'tpu' not in err.lower()


def test_sweep_from_outside_the_repository_keeps_paths_relative_to_the_caller(tmp_path):
  rc = subprocess.run(
      [sys.executable, os.path.join(REPO, 'scripts', 'sweep.py'), '--out=sw',
       '--grid', 'gamma=0.5,0.9', '--', '--experiment=oracle_scratchgan', *TINY,
       *ORACLE_TINY, '--selection_metric=auto'],
      cwd=tmp_path, capture_output=True, text=True, timeout=600,
      env=dict(os.environ, JAX_PLATFORMS='cpu'))
  assert rc.returncode == 0, rc.stderr[-3000:] + rc.stdout[-3000:]
  assert '2 runs, 2 points' in rc.stdout
  runs = [p for p in (tmp_path / 'sw').iterdir() if p.is_dir()]
  assert len(runs) == 2 and all((p / 'checkpoints').is_dir() for p in runs)
  assert not os.path.exists(os.path.join(REPO, 'sw'))
