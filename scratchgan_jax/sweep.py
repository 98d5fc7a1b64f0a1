"""Hyperparameter sweeps: grids or random searches of `launch.py` runs.

Each point of the sweep is one set of flag values; each (point, seed) is one
`launch.py` run in its own workdir `<out>/<point>_s<seed>`. The sweep is
resumable: a finished run (its `summary.json` reaches the requested step) is
not run again, an interrupted one resumes from its checkpoint. The results are
read back from every run's `metrics.jsonl` into one table (CSV + Markdown,
mean ± std over seeds) and one plot of the metric against each swept flag.

    space = parse_space(['gen_lr=log:1e-4:3e-3', 'batch_size=128,256'])
    points = random_points(space, num=16, seed=0)    # or grid_points(space)
    run_sweep(points, seeds=[0, 1], out='runs/sweep', base_args=[...])
    rows = collect(out)                               # one row per run
    write_tables(rows, out, metric='nll_oracle')

The command line is `main` here (`scratchgan-sweep` when installed, or
`scripts/sweep.py` in a clone); the functions above it read no flags. Every
path is relative to the caller's directory, and the runs use the same
scratchgan_jax package as the sweep itself.
"""
from __future__ import annotations

import argparse
import csv
import dataclasses
import hashlib
import json
import math
import os
import subprocess
import sys
import time

import numpy as np

from scratchgan_jax import checkpoint as ckpt_lib
from scratchgan_jax import writers
from scratchgan_jax.writers import pyplot

# The folder holding this scratchgan_jax package: the runs import the same one.
_PACKAGE_PARENT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class SweepError(ValueError):
  """A user-caused sweep error (bad search space, bad flag)."""


@dataclasses.dataclass(frozen=True)
class Dim:
  """One swept flag: a list of values, or a log-uniform / uniform range."""
  name: str
  kind: str  # 'choice' | 'log' | 'uniform'
  values: tuple = ()
  low: float = 0.0
  high: float = 0.0


def _number(s: str):
  try:
    return int(s)
  except ValueError:
    pass
  try:
    return float(s)
  except ValueError:
    return s


def parse_space(specs: list[str]) -> list[Dim]:
  """`name=v1,v2,...` | `name=log:LOW:HIGH` | `name=uniform:LOW:HIGH`."""
  dims = []
  for spec in specs:
    if '=' not in spec:
      raise SweepError(f'{spec!r}: a swept flag is NAME=VALUES (e.g. gen_lr=1e-4,1e-3 '
                       'or gen_lr=log:1e-4:1e-2)')
    name, rest = spec.split('=', 1)
    name = name.strip().lstrip('-')
    if rest.startswith(('log:', 'uniform:')):
      kind, lo, hi = (rest.split(':') + ['', ''])[:3]
      try:
        lo, hi = float(lo), float(hi)
      except ValueError:
        raise SweepError(f'{spec!r}: {kind}:LOW:HIGH needs two numbers') from None
      if not lo < hi or (kind == 'log' and lo <= 0):
        raise SweepError(f'{spec!r}: need 0 < LOW < HIGH' if kind == 'log'
                         else f'{spec!r}: need LOW < HIGH')
      dims.append(Dim(name, kind, low=lo, high=hi))
    else:
      values = tuple(_number(v.strip()) for v in rest.split(',') if v.strip())
      if not values:
        raise SweepError(f'{spec!r}: no values')
      dims.append(Dim(name, 'choice', values=values))
  names = [d.name for d in dims]
  if len(set(names)) != len(names):
    raise SweepError(f'a flag is swept twice: {names}')
  return dims


def grid_points(space: list[Dim]) -> list[dict]:
  """Every combination of the `choice` dimensions (ranges are not allowed)."""
  points = [{}]
  for d in space:
    if d.kind != 'choice':
      raise SweepError(f'--grid needs value lists; {d.name} is a {d.kind} range '
                       '(use --random N)')
    points = [{**p, d.name: v} for p in points for v in d.values]
  return points


def zip_points(space: list[Dim]) -> list[dict]:
  """Tied value lists: the i-th point takes the i-th value of every flag.

  For flags that must move together, e.g. a batch size and the number of steps
  that keeps the examples seen (the wall-clock time) equal.
  """
  for d in space:
    if d.kind != 'choice':
      raise SweepError(f'--zip needs value lists; {d.name} is a {d.kind} range')
  lengths = {d.name: len(d.values) for d in space}
  if len(set(lengths.values())) > 1:
    raise SweepError(f'--zip lists must have the same length: {lengths}')
  n = next(iter(lengths.values()), 0)
  return [{d.name: d.values[i] for d in space} for i in range(n)]


def random_points(space: list[Dim], num: int, seed: int = 0) -> list[dict]:
  """`num` independent draws (values rounded to 3 significant digits)."""
  rng = np.random.default_rng(seed)
  points = []
  for _ in range(num):
    p = {}
    for d in space:
      if d.kind == 'choice':
        p[d.name] = d.values[int(rng.integers(len(d.values)))]
      else:
        u = rng.uniform()
        if d.kind == 'log':
          v = math.exp(math.log(d.low) + u * (math.log(d.high) - math.log(d.low)))
        else:
          v = d.low + u * (d.high - d.low)
        p[d.name] = float(f'{v:.3g}')
    points.append(p)
  return points


def point_name(point: dict) -> str:
  """A short readable folder name, unique per point."""
  text = json.dumps(point, sort_keys=True)
  h = hashlib.sha1(text.encode()).hexdigest()[:6]
  short = '_'.join(f'{k.replace("_", "")[:6]}{v}' for k, v in sorted(point.items()))
  return f'{short[:60]}_{h}'.replace('/', '-')


def _flag(name, value) -> str:
  if isinstance(value, bool):
    return f'--{name}={"true" if value else "false"}'
  return f'--{name}={value}'


def run_command(point: dict, seed: int, workdir: str, base_args: list[str],
                python: str = sys.executable) -> list[str]:
  return ([python, '-m', 'scratchgan_jax'] + list(base_args)
          + [_flag(k, v) for k, v in sorted(point.items())]
          + [f'--seed={seed}', f'--workdir={workdir}'])


def _finished(workdir: str) -> bool:
  """True when the run's summary exists and its final step is the last one."""
  path = os.path.join(workdir, 'summary.json')
  cfg_path = os.path.join(workdir, 'config.json')
  if not (os.path.exists(path) and os.path.exists(cfg_path)):
    return False
  with open(path, encoding='utf-8') as f:
    summary = json.load(f)
  with open(cfg_path, encoding='utf-8') as f:
    cfg = json.load(f)
  return summary.get('final_step') == cfg.get('num_steps')


def run_sweep(points: list[dict], seeds: list[int], out: str, base_args: list[str],
              parallel: int = 1, log=print) -> list[dict]:
  """Runs every (point, seed) not finished yet; returns one record per run."""
  out = os.path.abspath(out)
  os.makedirs(out, exist_ok=True)
  jobs = []
  for point in points:
    for seed in seeds:
      wd = os.path.join(out, f'{point_name(point)}_s{seed}')
      jobs.append((point, seed, wd))
  plan = {'base_args': list(base_args), 'seeds': list(seeds), 'points': points}
  _write_json(os.path.join(out, 'sweep.json'), plan)
  pending = [j for j in jobs if not _finished(j[2])]
  log(f'sweep {out}: {len(jobs)} runs, {len(jobs) - len(pending)} already done')
  running: list[tuple[subprocess.Popen, tuple, float]] = []
  failed = []
  while pending or running:
    while pending and len(running) < parallel:
      point, seed, wd = job = pending.pop(0)
      os.makedirs(wd, exist_ok=True)
      cmd = run_command(point, seed, wd, base_args)
      _write_json(os.path.join(wd, 'sweep_run.json'),
                  {'point': point, 'seed': seed, 'command': cmd})
      out_f = open(os.path.join(wd, 'stdout.txt'), 'ab')
      env = dict(os.environ, PYTHONPATH=os.pathsep.join(
          [_PACKAGE_PARENT] + [p for p in [os.environ.get('PYTHONPATH')] if p]))
      proc = subprocess.Popen(cmd, stdout=out_f, stderr=subprocess.STDOUT, env=env)
      out_f.close()
      running.append((proc, job, time.time()))
      log(f'  start {os.path.basename(wd)}')
    time.sleep(1.0)
    for item in list(running):
      proc, (point, seed, wd), t0 = item
      if proc.poll() is None:
        continue
      running.remove(item)
      dt = time.time() - t0
      rec_path = os.path.join(wd, 'sweep_run.json')
      with open(rec_path, encoding='utf-8') as f:
        rec = json.load(f)
      rec.setdefault('wall_seconds', 0.0)
      rec['wall_seconds'] += dt
      rec['returncode'] = proc.returncode
      _write_json(rec_path, rec)
      status = 'done' if proc.returncode == 0 else f'FAILED (exit {proc.returncode})'
      log(f'  {status} {os.path.basename(wd)} in {dt:.0f} s')
      if proc.returncode != 0:
        failed.append(wd)
  if failed:
    log(f'{len(failed)} runs failed; see their stdout.txt: {failed}')
  return [dict(point=p, seed=s, workdir=w) for p, s, w in jobs]


def _write_json(path: str, obj) -> None:
  ckpt_lib.atomic_write_text(path, json.dumps(obj, indent=1, sort_keys=True))


def run_record(workdir: str, metric: str, second: str | None = None,
               stable_tol: float = 0.15, unfinished: bool = False) -> dict | None:
  """One run's numbers: untrained / final / best of `metric`, and `second`.

  None for a run that has not finished (unless `unfinished`).
  """
  rec_path = os.path.join(workdir, 'sweep_run.json')
  if not os.path.exists(rec_path) or not (unfinished or _finished(workdir)):
    return None
  with open(rec_path, encoding='utf-8') as f:
    rec = json.load(f)
  evals = [r for r in writers.read_metrics(workdir) if r.get('eval') and metric in r]
  if not evals:
    return None
  vals = [float(r[metric]) for r in evals]
  best_i = int(np.nanargmin(vals)) if any(map(math.isfinite, vals)) else 0
  logs = [r for r in writers.read_metrics(workdir) if not r.get('eval')]
  out = {**{f'flag.{k}': v for k, v in rec['point'].items()},
         'seed': rec['seed'], 'workdir': workdir,
         'final_step': evals[-1]['step'],
         f'{metric}.untrained': vals[0], f'{metric}.final': vals[-1],
         f'{metric}.best': vals[best_i], 'best_step': evals[best_i]['step'],
         'final_minus_best': vals[-1] - vals[best_i],
         'stable': bool(vals[-1] - vals[best_i] <= stable_tol),
         'wall_seconds': rec.get('wall_seconds', float('nan'))}
  if second:
    sv = [float(r.get(second, float('nan'))) for r in evals]
    out[f'{second}.untrained'] = sv[0]
    out[f'{second}.final'] = sv[-1]
    out[f'{second}.at_best'] = sv[best_i]
  if logs:
    last = logs[-1]
    for k in ('disc_prob_real', 'disc_prob_fake', 'sample_length'):
      if k in last:
        out[f'last.{k}'] = last[k]
  return out


def collect(out: str, metric: str, second: str | None = None,
            stable_tol: float = 0.15, unfinished: bool = False) -> list[dict]:
  rows = []
  for name in sorted(os.listdir(out)):
    wd = os.path.join(out, name)
    if os.path.isdir(wd):
      r = run_record(wd, metric, second, stable_tol, unfinished)
      if r is not None:
        rows.append(r)
  return rows


def read_csv_rows(path: str) -> list[dict]:
  """A CSV written by this project, numbers and booleans restored (empty cells dropped)."""
  bools = {'True': True, 'False': False}
  with open(path, newline='', encoding='utf-8') as f:
    return [{k: bools[v] if v in bools else _number(v) for k, v in r.items() if v != ''}
            for r in csv.DictReader(f)]


def read_results_csv(out: str) -> list[dict]:
  """The rows of `<out>/results.csv` as written by `write_tables`, to rebuild the
  tables where the run folders are gone (e.g. a sweep's committed results)."""
  path = os.path.join(out, 'results.csv')
  return read_csv_rows(path) if os.path.exists(path) else []


def sample_std(values) -> float:
  """Standard deviation over seeds or runs with n - 1 (0 for one value), as
  everywhere in RESULTS.md."""
  return float(np.std(values, ddof=1)) if len(values) > 1 else 0.0


def _fmt(v) -> str:
  if isinstance(v, float):
    if not math.isfinite(v):
      return str(v)
    return f'{v:.4g}' if abs(v) < 1e4 else f'{v:.0f}'
  return str(v)


def aggregate(rows: list[dict], metric: str) -> list[dict]:
  """Mean ± std over seeds per point, sorted by the mean final metric."""
  groups: dict[str, list[dict]] = {}
  for r in rows:
    key = json.dumps({k: v for k, v in r.items() if k.startswith('flag.')}, sort_keys=True)
    groups.setdefault(key, []).append(r)
  out = []
  for key, rs in groups.items():
    agg = dict(json.loads(key))
    agg['seeds'] = len(rs)
    for k in rs[0]:
      if k.startswith('flag.') or k in ('seed', 'workdir', 'best_step', 'final_step'):
        continue
      vals = [r[k] for r in rs if isinstance(r.get(k), (int, float))]
      if not vals:
        continue
      if isinstance(rs[0][k], bool):
        agg[k] = f'{sum(vals)}/{len(vals)}'
      else:
        agg[k] = float(np.mean(vals))
        agg[k + '.std'] = sample_std(vals)
    out.append(agg)
  out.sort(key=lambda a: a.get(f'{metric}.final', math.inf))
  return out


def write_tables(rows: list[dict], out: str, metric: str, second: str | None = None,
                 title: str = '') -> dict:
  """results.csv (every run), summary.md (per point), and a PNG per swept flag."""
  if not rows:
    raise SweepError(f'{out}: no finished runs with {metric!r} to tabulate')
  keys = sorted({k for r in rows for k in r}, key=lambda k: (not k.startswith('flag.'), k))
  with open(os.path.join(out, 'results.csv'), 'w', newline='', encoding='utf-8') as f:
    w = csv.DictWriter(f, fieldnames=keys)
    w.writeheader()
    for r in rows:
      w.writerow(r)
  agg = aggregate(rows, metric)
  flag_cols = sorted({k for a in agg for k in a if k.startswith('flag.')})
  cols = [f'{metric}.final', f'{metric}.best', 'final_minus_best']
  if second:
    cols += [f'{second}.final']
  cols += ['stable', 'wall_seconds']
  head = [c[5:] for c in flag_cols] + ['seeds'] + cols
  lines = [f'# {title or "Sweep"}', '',
           f'Sorted by the mean final {metric} over seeds (± std); "stable" counts '
           'seeds whose final value is within the tolerance of their best.', '']
  cells_of = []
  for a in agg:
    cells = [_fmt(a.get(c)) for c in flag_cols] + [str(a['seeds'])]
    for c in cols:
      v = a.get(c)
      if isinstance(v, float) and (c + '.std') in a and a['seeds'] > 1:
        cells.append(f'{_fmt(v)} ± {_fmt(a[c + ".std"])}')
      else:
        cells.append(_fmt(v) if v is not None else '')
    cells_of.append(cells)
  lines += writers.markdown_table(head, cells_of)
  with open(os.path.join(out, 'summary.md'), 'w', encoding='utf-8') as f:
    f.write('\n'.join(lines) + '\n')
  plots = plot_sweep(rows, out, metric, flag_cols)
  return {'runs': len(rows), 'points': len(agg), 'best': agg[0], 'plots': plots}


def plot_sweep(rows: list[dict], out: str, metric: str, flag_cols: list[str]) -> list[str]:
  """One panel per swept flag: final (filled) and best (open) metric per run."""
  plt = pyplot()
  if plt is None:
    print(f'matplotlib is not installed: no {os.path.join(out, "sweep.png")} '
          "(pip install 'scratchgan-jax[plots]')", file=sys.stderr)
    return []
  swept = [c for c in flag_cols if len({str(r.get(c)) for r in rows}) > 1] or flag_cols
  n = len(swept)
  if not n:
    return []
  cols = min(n, 4)
  fig, axes = plt.subplots((n + cols - 1) // cols, cols, figsize=(3.2 * cols, 2.6 * ((n + cols - 1) // cols)),
                           squeeze=False)
  for ax, c in zip(axes.flat, swept):
    xs = [r.get(c) for r in rows]
    numeric = all(isinstance(x, (int, float)) for x in xs)
    if numeric:
      x = np.array(xs, float)
      if (x > 0).all() and x.max() / max(x.min(), 1e-30) > 20:
        ax.set_xscale('log')
    else:
      cats = sorted({str(v) for v in xs})
      x = np.array([cats.index(str(v)) for v in xs], float)
      ax.set_xticks(range(len(cats)), cats)
    ax.scatter(x, [r[f'{metric}.final'] for r in rows], s=14, label='final')
    ax.scatter(x, [r[f'{metric}.best'] for r in rows], s=14, facecolors='none',
               edgecolors='k', label='best')
    ax.set_xlabel(c[5:])
    ax.set_ylabel(metric)
  for ax in list(axes.flat)[n:]:
    ax.axis('off')
  axes.flat[0].legend(fontsize=7)
  path = os.path.join(out, 'sweep.png')
  writers.save_figure(fig, path)
  return [path]


def points_from_args(grid: list[str] | None, random_specs: list[str] | None,
                     num_random: int, seed: int,
                     zipped: list[str] | None = None) -> list[dict]:
  """The sweep's points: a grid or a random search, crossed with tied lists."""
  if grid and random_specs:
    raise SweepError('use --grid or --random, not both')
  if grid:
    points = grid_points(parse_space(grid))
  elif random_specs:
    if num_random <= 0:
      raise SweepError('--num_points must be > 0 with --random')
    points = random_points(parse_space(random_specs), num_random, seed)
  else:
    points = [{}]
  if zipped:
    tied = zip_points(parse_space(zipped))
    both = set(tied[0]) & set(points[0])
    if both:
      raise SweepError(f'{sorted(both)} swept by --zip and by --grid/--random')
    points = [{**p, **t} for p in points for t in tied]
  return points


# ----------------------------------------------------------------------------
# Command line.

_USAGE = """Grid or random search over launch.py flags, several seeds, one table and plot.

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


def main(argv=None):
  argv = sys.argv[1:] if argv is None else argv
  base = []
  if '--' in argv:
    i = argv.index('--')
    argv, base = argv[:i], argv[i + 1:]
  p = argparse.ArgumentParser(description=_USAGE,
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
      points = points_from_args(a.grid, a.random, a.num_points, a.search_seed, a.zip)
      if a.dry_run:
        for pt in points:
          for s in seeds:
            wd = os.path.join(a.out, f'{point_name(pt)}_s{s}')
            print(' '.join(run_command(pt, s, wd, base)))
        return 0
      run_sweep(points, seeds, a.out, base, a.parallel)
    rows = collect(a.out, a.metric, second, a.stable_tol)
    if not rows and a.report_only:
      rows = read_results_csv(a.out)  # no run folders: a committed results folder
    res = write_tables(rows, a.out, a.metric, second, a.title)
  except SweepError as e:
    sys.stderr.write(f'error: {e}\n')
    return 2
  print(f'{res["runs"]} runs, {res["points"]} points -> '
        f'{os.path.join(a.out, "summary.md")}')
  with open(os.path.join(a.out, 'summary.md'), encoding='utf-8') as f:
    print(f.read())
  return 0
