#!/usr/bin/env python3
"""Grid or random search over launch.py flags, several seeds, one table and plot.

    # 16 random points x 2 seeds of the default experiment, 2 runs at a time
    python scripts/sweep.py --out=runs/sweep_oracle --seeds=0,1 --parallel=2 \
        --random gen_lr=log:1e-4:3e-3 disc_lr=log:1e-3:3e-2 batch_size=128,256 \
        --num_points=16 -- --flagfile=experiments/oracle_scratchgan.cfg --num_steps=500

    # a grid
    python scripts/sweep.py --out=runs/grid --grid gamma=0.23,0.5,0.9 -- --num_steps=300

    # tied flags (the i-th values go together): batch sizes at equal examples seen,
    # crossed with a grid when --grid is given too
    python scripts/sweep.py --out=runs/batch --zip batch_size=128,256,512 \
        num_steps=1000,500,250 -- --flagfile=experiments/oracle_scratchgan.cfg

    # tables only (after a sweep, or while it runs; from results.csv where the
    # run folders are gone, e.g. a committed results/ folder)
    python scripts/sweep.py --out=runs/sweep_oracle --report_only

Everything after `--` is passed to every run (a flagfile and fixed flags).
Each run lives in `<out>/<point>_s<seed>`; rerunning the same command skips
finished runs and resumes interrupted ones. Outputs: `<out>/results.csv` (one
row per run), `<out>/summary.md` (mean ± std over seeds, best first) and
`<out>/sweep.png` (the metric against each swept flag).
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from scratchgan_jax import sweep  # noqa: E402


def main(argv=None):
  argv = sys.argv[1:] if argv is None else argv
  base = []
  if '--' in argv:
    i = argv.index('--')
    argv, base = argv[:i], argv[i + 1:]
  p = argparse.ArgumentParser(description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument('--out', required=True, help='sweep folder')
  p.add_argument('--grid', nargs='*', help='NAME=v1,v2,... (every combination)')
  p.add_argument('--random', nargs='*', help='NAME=v1,v2 | NAME=log:LO:HI | NAME=uniform:LO:HI')
  p.add_argument('--zip', nargs='*', help='NAME=v1,v2,... NAME2=w1,w2,... (tied: point i '
                 'takes the i-th value of each; crossed with --grid/--random)')
  p.add_argument('--num_points', type=int, default=16, help='random search: points')
  p.add_argument('--search_seed', type=int, default=0, help='random search: seed')
  p.add_argument('--seeds', default='0', help='comma-separated training seeds')
  p.add_argument('--parallel', type=int, default=1, help='runs at a time')
  p.add_argument('--metric', default='nll_oracle',
                 help='evaluation metric to tabulate (lower is better)')
  p.add_argument('--second', default='', help='a second metric shown beside it '
                 '(default: nll_test for nll_oracle)')
  p.add_argument('--stable_tol', type=float, default=0.15,
                 help='a run is stable when final - best <= this')
  p.add_argument('--title', default='')
  p.add_argument('--report_only', action='store_true', help='only write the tables')
  p.add_argument('--dry_run', action='store_true', help='print the points and commands')
  a = p.parse_args(argv)
  try:
    seeds = [int(s) for s in a.seeds.split(',') if s.strip()]
  except ValueError:
    p.error(f'--seeds={a.seeds!r}: comma-separated integers')
  if not seeds:
    p.error('--seeds: at least one seed')
  if a.parallel < 1:
    p.error('--parallel must be >= 1')
  second = a.second or ('nll_test' if a.metric == 'nll_oracle' else None)
  try:
    if not a.report_only:
      points = sweep.points_from_args(a.grid, a.random, a.num_points, a.search_seed, a.zip)
      if a.dry_run:
        for pt in points:
          for s in seeds:
            wd = os.path.join(a.out, f'{sweep.point_name(pt)}_s{s}')
            print(' '.join(sweep.run_command(pt, s, wd, base)))
        return 0
      sweep.run_sweep(points, seeds, a.out, base, a.parallel)
    rows = sweep.collect(a.out, a.metric, second, a.stable_tol)
    if not rows and a.report_only:
      rows = sweep.read_results_csv(a.out)  # no run folders: a committed results folder
    res = sweep.write_tables(rows, a.out, a.metric, second, a.title)
  except sweep.SweepError as e:
    sys.stderr.write(f'error: {e}\n')
    return 2
  print(f'{res["runs"]} runs, {res["points"]} points -> '
        f'{os.path.join(a.out, "summary.md")}')
  with open(os.path.join(a.out, 'summary.md'), encoding='utf-8') as f:
    print(f.read())
  return 0


if __name__ == '__main__':
  sys.exit(main())
