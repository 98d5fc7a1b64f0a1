#!/usr/bin/env python3
"""Reruns the measured study of RESULTS.md, one stage after another.

  python scripts/reproduce.py [--quick] [--only=N,...] [OUT]   (default OUT: runs/study)

Every training stage is a `scripts/sweep.py` call: resumable (rerun the same
command after an interruption and finished runs are skipped), one workdir per
run, a table (summary.md, results.csv) and a plot (sweep.png) per stage; every
evaluation is skipped when its output exists. `--only=6,7` runs those stages
alone (stage 4 needs the runs of stages 2 and 3). `--quick` runs every stage at a
toy size (a few steps, tiny data) so that the test suite can check that the study
still runs end to end; its numbers mean nothing.

Stages (full size, 2-core CPU, one run at a time):
  1. oracle sweep A: 16 random points x 2 seeds of the default experiment's
     learning rates, gamma, baseline decay, discriminator dropout and width
     (batch 128, 500 steps; ~80 minutes)
  2. the default experiment (experiments/oracle_scratchgan.cfg), 3 seeds (~20 min)
  3. the MLE baseline (experiments/oracle_mle.cfg), 3 seeds (~12 min)
  4. NLL-oracle against NLL-test over temperature for both (~4 min)
  5. COCO captions (Texygen's texygen_txt folder: --coco_dir, or COCO_DIR):
     ScratchGAN (coco_scratchgan.cfg, 4,800 steps, ~55 min) and MLE (coco_mle.cfg, ~15 min),
     every metric at T = 1 on 10k samples, the training text scored the same way,
     temperature sweeps of both and the comparison with Texygen's published peers
     (scripts/text_report.py; ~25 min of evaluation); both models on every seed of
     --real_seeds, the seeds after the first scored at T = 1 and summarised by
     scripts/seeds_report.py (coco/seeds.md)
  6. EMNLP2017 News, 12.5k-sentence subset (ScratchGAN's JSON folder: --emnlp_dir,
     or EMNLP_DIR): ScratchGAN (emnlp2017_small_scratchgan.cfg, ~100 min) and MLE
     (emnlp2017_small_mle.cfg, ~17 min), FED/BLEU at T = 1 on 10k samples, the
     training text, FED over temperature, the learning curves (scripts/text_report.py,
     scripts/plot_runs.py; ~10 min of evaluation); both models on every seed of
     --real_seeds, spread in emnlp2017/seeds.md
  7. the ablation waterfall on the oracle (experiments/ablation_oracle_*.cfg),
     3 seeds per step, and a small-batch control (step 0 for 1,200 steps and for
     the wall-clock of a batch-256 run; scripts/ablation_report.py; ~65 min)
  8. oracle sweep B: batch size 128 -> 1024 at equal examples seen (= equal
     wall-clock on CPU), learning rates fixed and scaled by sqrt(batch / 128),
     2 seeds, then each run's best checkpoint on the NLL-oracle / NLL-test plane
     beside stages 2-4 (scripts/batch_sweep_report.py, oracle_tradeoff.py; ~70 min)
  9. beyond the paper (RESULTS.md section 7): the generator-update options on the
     oracle (per-position, leave-one-out and prefix baselines, entropy bonus,
     normalised advantages, two clipped updates per batch at about equal time),
     3 seeds each (~2 hours); then, on every seed of --real_seeds, the real-text
     runs the flagfiles do not make: COCO at 1,200 steps with the paper's scalar
     baseline and with the prefix baseline (~25 min each), and
     EMNLP2017 at 1,200 steps with the paper's scalar baseline and with the prefix
     baseline (~28 min each) and at 2,400 with the prefix baseline (~50 min),
     scored like stages 5 and 6 and set beside their runs (beyond_paper/*_prefix_eval.md);
     and the diagnostic of section 7.2: the oracle's exact density as the reward and
     discriminators of width 64 and 128, 3 seeds each (~60 min), with stages 2 and 3 in
     the generator's KL to the oracle (scripts/reverse_kl_probe.py; ~15 min)
"""
import argparse
import dataclasses
import glob
import json
import os
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NUM_STAGES = 9


@dataclasses.dataclass(frozen=True)
class Plan:
  """What one invocation runs: sizes, seeds and folders (full or --quick)."""
  out: str
  python: str
  quick: bool
  coco_dir: str
  emnlp_dir: str
  real_seeds: str           # COCO and EMNLP2017: every model on these seeds
  oracle_size: tuple = ()   # appended to every oracle run
  text_size: tuple = ()     # appended to every COCO / EMNLP2017 run
  points: int = 16          # sweep A's random points
  seeds_a: str = '0,1'
  seeds: str = '0,1,2'
  temperatures: str = '0.7,0.8,0.9,1.0,1.1,1.2'
  num_samples: int = 2000   # oracle temperature curves


def make_plan(quick: bool, out: str, python: str, coco_dir: str, emnlp_dir: str,
              real_seeds: str) -> Plan:
  common = dict(out=out, python=python, quick=quick, coco_dir=coco_dir,
                emnlp_dir=emnlp_dir, real_seeds=real_seeds)
  if not quick:
    return Plan(**common)
  return Plan(
      **common,
      oracle_size=('--num_steps=4', '--eval_every=2', '--checkpoint_every=2', '--log_every=2',
                   '--num_eval_samples=32', '--batch_size=16', '--oracle_num_train=64',
                   '--oracle_num_valid=64', '--oracle_vocab_size=50'),
      text_size=('--num_steps=4', '--eval_every=2', '--checkpoint_every=2', '--log_every=2',
                 '--batch_size=16', '--num_eval_samples=32', '--gen_feature_size=16',
                 '--disc_feature_size=16', '--trainable_embedding_size=8',
                 '--selection_metric=valid_nll'),
      points=2, seeds_a='0', seeds='0', temperatures='0.8,1.0', num_samples=64)


class StageError(Exception):
  pass


def run(plan: Plan, script: str, *args: str, quiet: bool = False) -> None:
  """One of the project's scripts (or launch.py), from the repository root."""
  cmd = [plan.python, os.path.join(REPO, script), *args]
  p = subprocess.run(cmd, cwd=REPO, stdout=subprocess.DEVNULL if quiet else None)
  if p.returncode:
    raise StageError(f'{script} exited with {p.returncode}: {" ".join(cmd)}')


def sweep(plan: Plan, out: str, title: str, *args: str, base=(), seeds: str | None = None) -> None:
  run(plan, 'scripts/sweep.py', f'--out={out}', f'--seeds={seeds or plan.seeds}',
      f'--title={title}', *args, '--', *base)


def evaluate(plan: Plan, workdir: str, *args: str, done: str = 'metrics.json') -> None:
  """launch.py --mode=evaluate, unless `<workdir>/eval/<done>` exists."""
  if not os.path.exists(os.path.join(workdir, 'eval', done)):
    run(plan, 'launch.py', '--mode=evaluate', f'--workdir={workdir}', *args, quiet=True)


def seed_runs(folder: str) -> list[str]:
  """The run folders of a sweep without swept flags (`_s0`, `_s1`, ...)."""
  return sorted(glob.glob(os.path.join(folder, '*_s[0-9]*')))


def first_run(folder: str) -> str:
  runs = glob.glob(os.path.join(folder, '*_s0'))
  if len(runs) != 1:
    raise StageError(f'expected one seed-0 run in {folder}, found {len(runs)}')
  return runs[0]


def seeds_report(plan: Plan, out: str, title: str, **models: list[str]) -> None:
  run(plan, 'scripts/seeds_report.py', f'--out={out}', f'--title={title}',
      *[f'{name}={",".join(dirs)}' for name, dirs in models.items() if dirs], quiet=True)


# --- the stages ---------------------------------------------------------------

def oracle_sweep_a(plan: Plan) -> None:
  size = () if plan.quick else ('--num_steps=500', '--eval_every=100', '--checkpoint_every=250')
  sweep(plan, f'{plan.out}/sweep_oracle_a', 'Oracle sweep A: random search, batch 128, 500 steps',
        f'--num_points={plan.points}', '--search_seed=0', '--random', 'gen_lr=log:1e-4:3e-3',
        'disc_lr=log:1e-3:3e-2', 'gamma=0.23,0.5,0.8,0.95', 'baseline_decay=0.08,0.5,0.9',
        'disc_dropout=0.1,0.3,0.5', 'disc_feature_size=32,64,128', seeds=plan.seeds_a,
        base=('--flagfile=experiments/oracle_scratchgan.cfg', *size, *plan.oracle_size))


def oracle_default(plan: Plan) -> None:
  sweep(plan, f'{plan.out}/oracle_scratchgan', 'experiments/oracle_scratchgan.cfg',
        base=('--flagfile=experiments/oracle_scratchgan.cfg', *plan.oracle_size))


def oracle_mle(plan: Plan) -> None:
  sweep(plan, f'{plan.out}/oracle_mle', 'experiments/oracle_mle.cfg',
        base=('--flagfile=experiments/oracle_mle.cfg', '--eval_every=100', *plan.oracle_size))


def _tradeoff_args(plan: Plan) -> list[str]:
  return ([f'--temperatures={plan.temperatures}', f'--num_samples={plan.num_samples}',
           '--mle', *seed_runs(f'{plan.out}/oracle_mle'),
           '--gan', *seed_runs(f'{plan.out}/oracle_scratchgan')])


def oracle_tradeoff(plan: Plan) -> None:
  run(plan, 'scripts/oracle_tradeoff.py', f'--out={plan.out}/oracle_tradeoff', *_tradeoff_args(plan))


# Each real-text dataset: the Plan field of its folder, its training and
# validation files, and the environment variable that sets the folder.
TEXT_DATA = {'coco': ('coco_dir', 'image_coco.txt', 'test_coco.txt', 'COCO_DIR'),
             'emnlp2017': ('emnlp_dir', 'train_first12500.json', 'valid.json', 'EMNLP_DIR')}


def _text_paths(plan: Plan, dataset: str) -> tuple | None:
  """(--train_path, --valid_path) of `dataset`, or None (said) when its folder lacks them."""
  field, train, valid, env = TEXT_DATA[dataset]
  folder = getattr(plan, field)
  if not os.path.isfile(os.path.join(folder, train)):
    print(f'skipped: no {os.path.join(folder, train)} (pass --{field} or set {env})')
    return None
  return f'--train_path={folder}/{train}', f'--valid_path={folder}/{valid}'


def _coco_sizes(plan: Plan):
  """(evaluation flags, metrics of every seed at T = 1) for COCO at this size."""
  if plan.quick:  # LM / reverse-LM at a toy size; FED needs the sentence encoder
    return ('--eval_num_samples=64', '--lm_steps=5'), 'bleu,self_bleu,ppl,length,novelty'
  # LM / reverse-LM: 500 steps of the 256-unit LSTM (~5 min each on 2 cores).
  return ('--lm_steps=500',), 'bleu,self_bleu,fed,ppl,length,novelty'


def coco(plan: Plan) -> None:
  paths = _text_paths(plan, 'coco')
  if paths is None:
    return
  lm, seed_metrics = _coco_sizes(plan)
  if plan.quick:
    metrics, real_metrics = 'bleu,self_bleu,length,novelty,lm,rlm', 'bleu,self_bleu,length,novelty'
    sweep_metrics, temps = 'bleu,self_bleu', '0.8,1.0'
  else:
    metrics = 'bleu,self_bleu,fed,lm,rlm,ppl,length,novelty,neighbours'
    real_metrics, sweep_metrics = 'bleu,self_bleu,fed,length,novelty', 'bleu,self_bleu,fed'
    temps = '0.7,0.8,0.9,1.0,1.1,1.2'
  for name in ('coco_scratchgan', 'coco_mle'):
    sweep(plan, f'{plan.out}/{name}', f'experiments/{name}.cfg', '--metric=valid_nll',
          seeds=plan.real_seeds, base=(f'--flagfile=experiments/{name}.cfg', *paths, *plan.text_size))
  gan, mle = first_run(f'{plan.out}/coco_scratchgan'), first_run(f'{plan.out}/coco_mle')
  for wd in (gan, mle):
    evaluate(plan, wd, f'--metrics={metrics}', *lm)
  real = f'{plan.out}/coco_real_text'
  evaluate(plan, real, f'--samples_path={plan.coco_dir}/image_coco.txt',
           '--flagfile=experiments/coco_mle.cfg',
           *paths, f'--metrics={real_metrics}', *lm)
  evaluate(plan, gan, f'--compare_workdir={mle}', f'--temperatures={temps}',
           f'--metrics={sweep_metrics}', *lm, done='sweep.csv')
  run(plan, 'scripts/text_report.py', '--dataset=coco', f'--out={plan.out}/coco', f'--gan={gan}', f'--mle={mle}',
      f'--real={real}', quiet=True)
  # The other seeds at T = 1 (no LM scores: 5 minutes each), then the spread.
  gans, mles = seed_runs(f'{plan.out}/coco_scratchgan'), seed_runs(f'{plan.out}/coco_mle')
  for wd in gans[1:] + mles[1:]:
    evaluate(plan, wd, f'--metrics={seed_metrics}', *lm)
  seeds_report(plan, f'{plan.out}/coco/seeds.md', f'COCO captions at T = 1, seeds {plan.real_seeds}',
               ScratchGAN=gans, MLE=mles)


def _emnlp_sizes(plan: Plan):
  """(evaluation flags, metrics at T = 1) for EMNLP2017 at this size."""
  if plan.quick:
    return ('--eval_num_samples=64',), 'bleu,self_bleu,length,novelty'
  return (), 'fed,bleu,self_bleu,length,novelty'


def emnlp2017(plan: Plan) -> None:
  paths = _text_paths(plan, 'emnlp2017')
  if paths is None:
    return
  flags, metrics = _emnlp_sizes(plan)
  if plan.quick:
    sweep_metric, temps, curves, select = 'bleu', '0.8,1.0', 'valid_nll,sample_length', 'valid_nll'
  else:
    sweep_metric, temps = 'fed', '0.7,0.8,0.9,1.0,1.1,1.2,1.3'
    curves, select = 'fed,sample_length,disc_prob_fake', 'fed'
  for name in ('emnlp2017_small_scratchgan', 'emnlp2017_small_mle'):
    sweep(plan, f'{plan.out}/{name}', f'experiments/{name}.cfg', f'--metric={select}',
          seeds=plan.real_seeds, base=(f'--flagfile=experiments/{name}.cfg', *paths, *plan.text_size))
  gans = seed_runs(f'{plan.out}/emnlp2017_small_scratchgan')
  mles = seed_runs(f'{plan.out}/emnlp2017_small_mle')
  for wd in gans + mles:
    evaluate(plan, wd, f'--metrics={metrics}', *flags)
  real = f'{plan.out}/emnlp2017_real_text'
  if not os.path.exists(os.path.join(real, 'eval', 'metrics.json')):
    os.makedirs(real, exist_ok=True)
    with open(os.path.join(plan.emnlp_dir, 'train_first12500.json')) as f:
      sentences = [r['s'] for r in json.load(f)]
    with open(os.path.join(real, 'train_sentences.txt'), 'w') as f:
      f.write('\n'.join(sentences) + '\n')
    evaluate(plan, real, f'--samples_path={real}/train_sentences.txt',
             '--flagfile=experiments/emnlp2017_small_mle.cfg', *paths, f'--metrics={metrics}', *flags)
  gan, mle = first_run(f'{plan.out}/emnlp2017_small_scratchgan'), first_run(f'{plan.out}/emnlp2017_small_mle')
  evaluate(plan, gan, f'--compare_workdir={mle}', f'--temperatures={temps}',
           f'--metrics={sweep_metric}', *flags, done='sweep.csv')
  run(plan, 'scripts/text_report.py', '--dataset=emnlp2017', f'--out={plan.out}/emnlp2017', f'--gan={gan}', f'--mle={mle}',
      f'--real={real}', quiet=True)
  seeds_report(plan, f'{plan.out}/emnlp2017/seeds.md',
               f'EMNLP2017 subset at T = 1, seeds {plan.real_seeds}', ScratchGAN=gans, MLE=mles)
  run(plan, 'scripts/plot_runs.py', f'--out={plan.out}/emnlp2017/training_curves.png',
      f'--metrics={curves}', '--title=EMNLP2017 subset: during training (1,000 samples per evaluation)',
      f'ScratchGAN={gan}', f'MLE={mle}', quiet=True)


def ablation(plan: Plan) -> None:
  steps = ('0_seqgan_step', '1_large_batch', '2_disc_reg', '3_baseline')
  # 0b, the control: step 0 trained for the wall-clock time of a batch-256 run.
  for name in steps + ('0b_small_batch_long',):
    sweep(plan, f'{plan.out}/ablation_oracle/{name}', f'experiments/ablation_oracle_{name}.cfg',
          base=(f'--flagfile=experiments/ablation_oracle_{name}.cfg', *plan.oracle_size))
  # and step 0 for 1,200 steps, between the two.
  sweep(plan, f'{plan.out}/ablation_oracle/0b_small_batch_1200_steps',
        'experiments/ablation_oracle_0_seqgan_step.cfg --num_steps=1200',
        base=('--flagfile=experiments/ablation_oracle_0_seqgan_step.cfg', '--num_steps=1200',
              *plan.oracle_size))
  run(plan, 'scripts/ablation_report.py', f'--out={plan.out}/ablation_oracle',
      '--title=Oracle ablation waterfall (paper Fig 3c at CPU scale)',
      *[f'{plan.out}/ablation_oracle/{s}' for s in steps], quiet=True)
  control = ('0_seqgan_step', '0b_small_batch_1200_steps', '0b_small_batch_long', '1_large_batch')
  run(plan, 'scripts/ablation_report.py', f'--out={plan.out}/ablation_oracle',
      '--name=small_batch_control',
      '--title=Oracle: the small batch for longer against the large batch',
      *[f'{plan.out}/ablation_oracle/{s}' for s in control], quiet=True)


def oracle_sweep_b(plan: Plan) -> None:
  if plan.quick:
    zipped = ('batch_size=16,32', 'num_steps=4,2', 'eval_every=2,1', 'checkpoint_every=2,1',
              'gen_lr=6.35e-4,8.98e-4', 'disc_lr=2.41e-2,3.41e-2')
    seeds = '0'
  else:
    # 128 x 1,000 = 128k examples per run; the last three points scale both
    # learning rates by sqrt(batch / 128), keeping their ratio.
    zipped = ('batch_size=128,256,512,1024,256,512,1024', 'num_steps=1000,500,250,125,500,250,125',
              'eval_every=200,100,50,25,100,50,25', 'checkpoint_every=500,250,125,63,250,125,63',
              'gen_lr=6.35e-4,6.35e-4,6.35e-4,6.35e-4,8.98e-4,1.27e-3,1.8e-3',
              'disc_lr=2.41e-2,2.41e-2,2.41e-2,2.41e-2,3.41e-2,4.82e-2,6.82e-2')
    seeds = '0,1'
  out = f'{plan.out}/sweep_oracle_batch'
  sweep(plan, out, 'Oracle sweep B: batch size at equal examples seen', '--zip', *zipped,
        seeds=seeds, base=('--flagfile=experiments/oracle_scratchgan.cfg', *plan.oracle_size))
  mle_ref = [f'--mle={plan.out}/oracle_mle'] if os.path.exists(f'{plan.out}/oracle_mle/results.csv') else []
  run(plan, 'scripts/batch_sweep_report.py', f'--out={out}', f'--sweep={out}', *mle_ref, quiet=True)
  if not seed_runs(f'{plan.out}/oracle_mle'):
    print('skipped the trade-off plot: run stages 2 and 3 first')
    return
  # Stage 4's curves are copied from its tradeoff.csv, not measured again.
  reuse = f'{plan.out}/oracle_tradeoff/tradeoff.csv'
  run(plan, 'scripts/oracle_tradeoff.py', f'--out={plan.out}/oracle_tradeoff_batch',
      *_tradeoff_args(plan), '--points', *seed_runs(out),
      *([f'--reuse={reuse}'] if os.path.exists(reuse) else []), quiet=True)


def beyond_paper(plan: Plan) -> None:
  # The options tied point by point: three baselines, the entropy bonus,
  # normalised advantages, and two clipped updates per batch for 600 steps
  # (about the default's time, as in RESULTS.md section 7.2). The default they
  # are measured against is stage 2.
  steps = '4,4,4,4,4,2' if plan.quick else '1000,1000,1000,1000,1000,600'
  ckpt = '2,2,2,2,2,1' if plan.quick else '250,250,250,250,250,100'
  sweep(plan, f'{plan.out}/beyond_paper/oracle',
        'Oracle: generator-update options (the default: oracle_scratchgan/)', '--zip',
        'baseline_type=position,loo,prefix,scalar,scalar,scalar', 'entropy_bonus=0,0,0,0.01,0,0',
        'normalize_advantages=false,false,false,false,true,false',
        'gen_updates_per_batch=1,1,1,1,1,2', f'num_steps={steps}', f'checkpoint_every={ckpt}',
        base=('--flagfile=experiments/oracle_scratchgan.cfg', *plan.oracle_size))
  # The diagnostic of RESULTS.md 7.2, "A perfect discriminator": the oracle's
  # exact density as the reward, and wider discriminators, set beside stages
  # 2 and 3 (where they ran) in the generator's KL to the oracle.
  groups = {'mle': seed_runs(f'{plan.out}/oracle_mle'),
            'default': seed_runs(f'{plan.out}/oracle_scratchgan')}
  for name, option in (('disc_width64', '--disc_feature_size=64'),
                       ('disc_width128', '--disc_feature_size=128'),
                       ('oracle_token_disc', '--reward_source=oracle_token_disc'),
                       ('oracle_log_ratio', '--reward_source=oracle_log_ratio')):
    out = f'{plan.out}/beyond_paper/oracle_{name}'
    sweep(plan, out, f'experiments/oracle_scratchgan.cfg {option}',
          base=('--flagfile=experiments/oracle_scratchgan.cfg', option, *plan.oracle_size))
    groups[name] = seed_runs(out)
  reverse_kl_probe(plan, groups, f'{plan.out}/beyond_paper/oracle_reverse_kl.md')
  # At the toy size one seed shows that the stage runs.
  real_seeds = plan.real_seeds.split(',')[0] if plan.quick else plan.real_seeds
  # The real-text runs the flagfiles do not already make: COCO's ships the
  # paper's scalar baseline at 4,800 steps, EMNLP2017's the prefix baseline at
  # 4,800 steps.
  # Each table sets them beside stage 5 / 6's runs where those exist (scored
  # there with more metrics; the table shows the shared ones).
  paths = _text_paths(plan, 'coco')
  if paths:
    flags, metrics = _coco_sizes(plan)
    scalar = _text_option(plan, 'coco_scalar_1200', 'coco_scratchgan', ('--num_steps=1200',),
                          paths, flags, metrics, real_seeds)
    prefix = _text_option(plan, 'coco_prefix', 'coco_scratchgan',
                          ('--baseline_type=prefix', '--num_steps=1200'), paths, flags, metrics,
                          real_seeds)
    seeds_report(plan, f'{plan.out}/beyond_paper/coco_prefix_eval.md',
                 "COCO captions at T = 1, best checkpoint: the paper's baseline against the "
                 "prefix baseline, and training four times as long",
                 **{'default (scalar baseline), 1,200 steps': scalar,
                    'prefix baseline, 1,200 steps': prefix,
                    'default, 4,800 steps (the flagfile)':
                        _evaluated(seed_runs(f'{plan.out}/coco_scratchgan')),
                    'MLE': _evaluated(seed_runs(f'{plan.out}/coco_mle'))})
  paths = _text_paths(plan, 'emnlp2017')
  if paths:
    flags, metrics = _emnlp_sizes(plan)
    cfg = 'emnlp2017_small_scratchgan'
    scalar = _text_option(plan, 'emnlp2017_scalar_1200', cfg,
                          ('--baseline_type=scalar', '--num_steps=1200'), paths, flags, metrics,
                          real_seeds)
    prefix = _text_option(plan, 'emnlp2017_prefix_1200', cfg, ('--num_steps=1200',), paths, flags,
                          metrics, real_seeds)
    prefix_2400 = _text_option(plan, 'emnlp2017_prefix_2400', cfg, ('--num_steps=2400',), paths,
                               flags, metrics, real_seeds)
    flagfile_runs = _evaluated(seed_runs(f'{plan.out}/{cfg}'))
    seeds_report(plan, f'{plan.out}/beyond_paper/emnlp2017_prefix_eval.md',
                 "EMNLP2017 subset at T = 1, best checkpoint: the paper's baseline against the "
                 "prefix baseline, and training twice as long",
                 **{'scalar baseline, 1,200 steps': scalar, 'prefix baseline, 1,200 steps': prefix,
                    'prefix baseline, 2,400 steps': prefix_2400,
                    'prefix baseline, 4,800 steps (the flagfile)': flagfile_runs,
                    'MLE': _evaluated(seed_runs(f'{plan.out}/emnlp2017_small_mle'))})
    # The generator averaged over its kept checkpoints, against each of them,
    # on the prefix runs of both lengths (results/beyond_paper/emnlp2017/average_probe.md).
    average_probe(plan, prefix_2400 + flagfile_runs,
                  f'{plan.out}/beyond_paper/emnlp2017_average_probe.md')


def _probe_once(plan: Plan, workdir: str, probe: str, *args: str) -> str:
  """`<workdir>/eval/<probe>.jsonl`, written once by `scripts/<probe>.py *args
  --out=...` (the probe appends, so a killed probe starts again from nothing)."""
  out = os.path.join(workdir, 'eval', f'{probe}.jsonl')
  if not os.path.exists(out):
    partial = out + '.partial'
    if os.path.exists(partial):
      os.remove(partial)
    os.makedirs(os.path.dirname(out), exist_ok=True)
    run(plan, f'scripts/{probe}.py', *args, f'--out={partial}', quiet=True)
    os.replace(partial, out)
  return out


def reverse_kl_probe(plan: Plan, groups: dict[str, list[str]], table: str) -> None:
  """scripts/reverse_kl_probe.py on each run's last checkpoint (its row kept in
  the run's eval/reverse_kl_probe.jsonl, written once), then one table row per
  group."""
  size = ('--num=64',) if plan.quick else ()
  outs = [_probe_once(plan, wd, 'reverse_kl_probe', f'--setting={setting}', *size, wd)
          for setting, runs in groups.items() for wd in runs]
  if outs:
    with open(table, 'w', encoding='utf-8') as f:
      subprocess.run([plan.python, os.path.join(REPO, 'scripts', 'reverse_kl_probe.py'),
                      f'--table={",".join(outs)}'], cwd=REPO, stdout=f, check=True)


def average_probe(plan: Plan, runs: list[str], table: str) -> None:
  """scripts/average_probe.py on each run (its rows kept in the run's
  eval/average_probe.jsonl, written once), then their table."""
  size = ('--num_samples=64', '--max_references=64') if plan.quick else ()
  outs = [_probe_once(plan, wd, 'average_probe', f'--workdir={wd}', *size) for wd in runs]
  if outs:
    run(plan, 'scripts/average_probe.py', f'--table={table}', f'--out={",".join(outs)}',
        quiet=True)


def _text_option(plan: Plan, name: str, cfg: str, option: tuple, paths: tuple, flags: tuple,
                 metrics: str, seeds: str) -> list[str]:
  """A real-text flagfile with `option` on `seeds`, each run scored at T = 1."""
  out = f'{plan.out}/beyond_paper/{name}'
  # The option's flags come before the toy size, so that --quick's --num_steps wins.
  sweep(plan, out, f'experiments/{cfg}.cfg {" ".join(option)}',
        '--metric=valid_nll' if plan.quick else '--metric=fed', seeds=seeds,
        base=(f'--flagfile=experiments/{cfg}.cfg', *option, *paths, *plan.text_size))
  runs = seed_runs(out)
  for wd in runs:
    evaluate(plan, wd, f'--metrics={metrics}', *flags)
  return runs


def _evaluated(runs: list[str]) -> list[str]:
  return [wd for wd in runs if os.path.exists(os.path.join(wd, 'eval', 'metrics.json'))]


STAGES = {
    1: ('oracle sweep A', oracle_sweep_a),
    2: ('the default experiment', oracle_default),
    3: ('the MLE baseline', oracle_mle),
    4: ('quality against coverage over temperature', oracle_tradeoff),
    5: ('COCO captions', coco),
    6: ('EMNLP2017 News (12.5k-sentence subset)', emnlp2017),
    7: ('the ablation waterfall on the oracle', ablation),
    8: ('oracle sweep B: batch size at equal examples seen', oracle_sweep_b),
    9: ('beyond the paper: generator-update options', beyond_paper),
}
assert len(STAGES) == NUM_STAGES


def parse_only(text: str | None) -> list[int]:
  if not text:
    return sorted(STAGES)
  parts = text.split(',')
  if not all(p.isdigit() and int(p) in STAGES for p in parts):
    raise ValueError(f'--only={text}: comma-separated stage numbers 1-{NUM_STAGES}')
  return sorted({int(p) for p in parts})


def main(argv=None) -> int:
  p = argparse.ArgumentParser(
      description=__doc__.split('\n\n')[0],
      epilog='Stages: ' + '; '.join(f'{k}. {v[0]}' for k, v in STAGES.items()))
  p.add_argument('out', nargs='?', default=os.path.join(REPO, 'runs', 'study'),
                 help='study folder (default: runs/study in the repository)')
  p.add_argument('--quick', action='store_true', help='every stage at a toy size (for the tests)')
  p.add_argument('--only', help=f'comma-separated stages (1-{NUM_STAGES}); default all')
  p.add_argument('--real_seeds', default=os.environ.get('REAL_SEEDS'),
                 help='COCO and EMNLP2017: every model on these seeds (default $REAL_SEEDS, '
                      'else 0,1,2, the seeds of the committed tables; 0,1 with --quick)')
  p.add_argument('--coco_dir', default=os.environ.get(
      'COCO_DIR', os.path.join(REPO, '..', 'shared', 'data', 'coco', 'texygen_txt')),
                 help="Texygen's COCO folder (image_coco.txt, test_coco.txt; or $COCO_DIR)")
  p.add_argument('--emnlp_dir', default=os.environ.get(
      'EMNLP_DIR', os.path.join(REPO, '..', 'shared', 'data', 'emnlp2017', 'scratchgan_json')),
                 help="ScratchGAN's EMNLP2017 JSON folder (or $EMNLP_DIR)")
  p.add_argument('--python', default=os.environ.get('PYTHON', sys.executable),
                 help='interpreter for the runs (default: this one, or $PYTHON)')
  args = p.parse_args(argv)
  try:
    stages = parse_only(args.only)
  except ValueError as e:
    p.error(str(e))
  plan = make_plan(args.quick, os.path.abspath(args.out), args.python,
                   os.path.abspath(args.coco_dir), os.path.abspath(args.emnlp_dir),
                   args.real_seeds or ('0,1' if args.quick else '0,1,2'))
  os.makedirs(plan.out, exist_ok=True)
  for k in stages:
    print(f'== {k}. {STAGES[k][0]}', flush=True)
    try:
      STAGES[k][1](plan)
    except StageError as e:
      print(f'error: stage {k}: {e}', file=sys.stderr)
      return 1
  print(f'study written to {plan.out}')
  return 0


if __name__ == '__main__':
  sys.exit(main())
