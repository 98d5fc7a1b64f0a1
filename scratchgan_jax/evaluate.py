"""`--mode=evaluate`: the evaluation suite on a run or on a file of samples.

    python launch.py --mode=evaluate --workdir=RUN [--checkpoint=...]
        [--samples_path=FILE] [--metrics=bleu,self_bleu,fed,lm,rlm,nll_oracle,nll_test,ppl,length,novelty]
        [--eval_num_samples=10000] [--temperature=1.0]
    python launch.py --mode=evaluate --workdir=RUN --temperatures=0.7,0.8,0.9,1.0,1.1,1.2,1.3
        [--compare_workdir=MLE_RUN]      # sweep: eval/sweep.csv + PNG curves

Writes `<workdir>/eval/metrics.json` and `<workdir>/eval/report.md`. Every
result records the sample and reference counts and the tokenisation.
"""
from __future__ import annotations

import dataclasses
import json
import os
import time
from typing import Callable

from absl import logging
import numpy as np

from scratchgan_jax import checkpoint as ckpt_lib
from scratchgan_jax import data as data_lib
from scratchgan_jax import encoders
from scratchgan_jax import experiment
from scratchgan_jax import inference
from scratchgan_jax import metrics as metrics_lib
from scratchgan_jax import oracle as oracle_lib
from scratchgan_jax.config import Config, ConfigError
from scratchgan_jax.writers import markdown_table, pyplot, save_figure

DEFAULT_TEMPERATURES = (0.7, 0.8, 0.9, 1.0, 1.1, 1.2, 1.3)


@dataclasses.dataclass(frozen=True)
class EvalOptions:
  """What `--mode=evaluate` does; the command line fills it from its flags."""
  metrics: tuple[str, ...] = ()  # () -> every metric whose `default` holds
  checkpoint: str = ''
  samples_path: str = ''  # score this file instead of the model's samples
  num_samples: int = 10000
  temperature: float = 1.0
  temperatures: tuple[float, ...] = ()  # a sweep instead of one evaluation
  compare_workdir: str = ''  # a second run drawn on the sweep's axes
  seed: int = 0
  fed_encoder: str = 'use'
  lm_steps: int = 2000
  max_references: int = 10000
  num_neighbours: int = 5


@dataclasses.dataclass
class _Inputs:
  """What the metrics read: the run, the samples and the references."""
  workdir: str
  run: object
  params: object
  opts: EvalOptions
  samples: list  # token lists (words, or token ids as strings on the oracle)
  toks: np.ndarray | None  # the same as ids when the model drew them
  refs: list  # validation sentences (text)
  from_file: bool

  @property
  def ds(self):
    return self.run.dataset

  def ids(self) -> np.ndarray:
    if self.toks is None:
      self.toks = (np.asarray(self.samples, np.int32) if self.ds.vocab is None
                   else _encode_samples(self.run, self.samples))
    return self.toks


def _bleu(x: _Inputs) -> dict:
  b = metrics_lib.bleu_all(x.samples, [r.split(' ') for r in x.refs])
  out = {f'bleu{n}': v for n, v in b.items()}
  out.update(num_references=len(x.refs), references='validation set')
  return {'bleu': out}


def _self_bleu(x: _Inputs) -> dict:
  return {'self_bleu': {f'self_bleu{n}': v
                        for n, v in metrics_lib.self_bleu_all(x.samples).items()}}


def _fed(x: _Inputs) -> dict:
  enc = encoders.make_encoder(x.opts.fed_encoder)
  return {f'fed[{x.opts.fed_encoder}]': {
      'value': metrics_lib.fed([' '.join(s) for s in x.samples], x.refs, enc),
      'num_samples': len(x.samples), 'num_references': len(x.refs)}}


def fed_value(metrics: dict) -> float | None:
  """The FED value in an evaluation's metrics (`fed[<encoder>]`), or None."""
  return next((v['value'] for k, v in metrics.items() if k.startswith('fed[')), None)


def _nll_oracle(x: _Inputs) -> dict:
  return {'nll_oracle': oracle_lib.nll(x.run.oracle_params, x.ids())}


def _valid_nll(x: _Inputs) -> float:
  return inference.token_nll(x.run.setup.gen, x.params, x.ds.valid, x.ds.eos)


def _nll_test(x: _Inputs) -> dict:
  return {'nll_test': _valid_nll(x)}


def _ppl(x: _Inputs) -> dict:
  nll = _valid_nll(x)
  return {'valid_nll': nll, 'valid_ppl': float(np.exp(nll))}


def _lm(x: _Inputs) -> dict:
  lm_gen, lm_params = _real_lm(x.workdir, x.run, x.opts.lm_steps)
  return {'lm_score': inference.token_nll(lm_gen, lm_params, x.ids(), x.ds.eos)}


def _rlm(x: _Inputs) -> dict:
  gen, params = inference.train_lm(x.ids(), x.ds.vocab_size, x.ds.eos,
                                   steps=x.opts.lm_steps, seed=x.opts.seed)
  return {'reverse_lm_score': inference.token_nll(gen, params, x.ds.valid, x.ds.eos)}


def _length(x: _Inputs) -> dict:
  lens = np.array([len(s) for s in x.samples])
  data_lens = x.ds.valid_length - (1 if x.ds.eos else 0)
  return {'length': {'samples_mean': float(lens.mean()), 'data_mean': float(data_lens.mean()),
                     'samples_hist': np.bincount(lens).tolist(),
                     'data_hist': np.bincount(data_lens).tolist()}}


def _novelty(x: _Inputs) -> dict:
  ds = x.ds
  train = ([s.split(' ') for s in ds.train_sentences] if ds.train_sentences
           else [[str(int(t)) for t in row] for row in ds.train])  # oracle ids
  lm = metrics_lib.longest_match(x.samples, train)
  train_set = {tuple(s) for s in train}
  return {'novelty': {'longest_match_hist': np.bincount(lm, minlength=11).tolist(),
                      'exact_copies': int(sum(tuple(s) in train_set for s in x.samples)),
                      'mean_longest_match': float(lm.mean())}}


def _neighbours(x: _Inputs) -> dict:
  train_text = list(dict.fromkeys(x.ds.train_sentences or []))  # unique, in order
  picks = [i for i, s in enumerate(x.samples) if s][:x.opts.num_neighbours]
  queries = [x.samples[i] for i in picks]
  ng = metrics_lib.ngram_neighbours(queries, [t.split(' ') for t in train_text])
  entry = [{'sample': ' '.join(q), 'ngram3': [[train_text[i], round(c, 4)] for i, c in nb]}
           for q, nb in zip(queries, ng)]
  try:
    enc = encoders.make_encoder(x.opts.fed_encoder)
    emb = metrics_lib.embedding_neighbours(enc([' '.join(q) for q in queries]),
                                           enc(train_text))
    for e, nb in zip(entry, emb):
      e[f'embedding[{x.opts.fed_encoder}]'] = [[train_text[i], round(c, 4)] for i, c in nb]
  except encoders.EncoderUnavailable:
    pass
  return {'neighbours': entry}


@dataclasses.dataclass(frozen=True)
class Metric:
  """One entry of the evaluation suite.

  `data`: the datasets it is defined on ('text', 'oracle'); `of`: 'samples'
  (it scores the samples, so also a file of them) or 'model' (it scores the
  generator itself: skipped for --samples_path); `default` / `sweep`: the
  datasets on which a plain evaluation / a temperature sweep runs it.
  """
  run: Callable[[_Inputs], dict]
  data: tuple[str, ...]
  of: str = 'samples'
  default: tuple[str, ...] = ()
  sweep: tuple[str, ...] = ()


BOTH, TEXT, ORACLE = ('text', 'oracle'), ('text',), ('oracle',)
METRICS = {  # in the order a report lists them
    'bleu': Metric(_bleu, TEXT, default=TEXT, sweep=TEXT),
    'self_bleu': Metric(_self_bleu, TEXT, default=TEXT, sweep=TEXT),
    'fed': Metric(_fed, TEXT, default=TEXT, sweep=TEXT),
    'nll_oracle': Metric(_nll_oracle, ORACLE, default=ORACLE, sweep=ORACLE),
    'nll_test': Metric(_nll_test, ORACLE, of='model', default=ORACLE),
    'ppl': Metric(_ppl, TEXT, of='model', default=TEXT),
    'lm': Metric(_lm, BOTH, sweep=BOTH),
    'rlm': Metric(_rlm, BOTH, sweep=BOTH),
    'length': Metric(_length, BOTH, default=BOTH),
    'novelty': Metric(_novelty, BOTH, default=TEXT),
    'neighbours': Metric(_neighbours, TEXT, default=TEXT),
}


def metric_names(requested, oracle: bool, sweep: bool = False) -> tuple[str, ...]:
  """The metrics to run: `requested` checked against the registry, or the
  defaults of the dataset kind."""
  kind = 'oracle' if oracle else 'text'
  if not requested:
    return tuple(n for n, m in METRICS.items() if kind in (m.sweep if sweep else m.default))
  for name in requested:
    if name not in METRICS:
      raise ConfigError(f'--metrics: unknown metric {name!r} (known: {", ".join(METRICS)})')
    if kind not in METRICS[name].data:
      if oracle:
        ok = ', '.join(n for n, m in METRICS.items() if 'oracle' in m.data)
        raise ConfigError(f'--metrics={name}: not defined on the oracle (token ids, no '
                          f'text references); use {ok}')
      raise ConfigError(f'--metrics={name}: needs --dataset=oracle')
  return tuple(requested)


def evaluate_run(workdir: str, opts: EvalOptions = EvalOptions(), *, write: bool = True,
                 loaded=None) -> dict:
  """The metrics of `opts` on a run's samples (or on `opts.samples_path`)
  -> a results dict, also written to `<workdir>/eval/` when `write`."""
  run, params, ckpt = loaded or experiment.load_generator(workdir, opts.checkpoint,
                                                          with_data=True, prefer_best=True)
  ds = run.dataset
  names = metric_names(opts.metrics, run.oracle_params is not None)
  toks = None
  if opts.samples_path:
    if run.oracle_params is not None:
      toks = oracle_lib.read_id_file(opts.samples_path, ds.vocab_size)
      samples = [[str(t) for t in row] for row in toks]
    else:
      lines = data_lib.read_lines(opts.samples_path, '--samples_path', keep_blank=True)
      samples = [l.split(' ') for l in lines]
    source = opts.samples_path
  else:
    if params is None:
      raise ConfigError('--workdir is not a training run: give --samples_path (a file of '
                        'samples to score) or the workdir of a trained run')
    toks = inference.sample_tokens(run.setup.gen, params, opts.num_samples, opts.seed,
                                   opts.temperature)
    samples = [ds.decode(t).split(' ') if ds.vocab else [str(int(x)) for x in t]
               for t in toks]
    source = f'{ckpt} (T={opts.temperature}, seed={opts.seed})'
  # An empty sample (immediate end of sentence) is an empty hypothesis: it counts.
  samples = [[] if s == [''] else s for s in samples]
  inputs = _Inputs(workdir, run, params, opts, samples, toks,
                   (ds.valid_sentences or [])[:opts.max_references], bool(opts.samples_path))
  results = {'source': source, 'num_samples': len(samples),
             'num_empty': sum(not s for s in samples),
             'tokenisation': 'split on single spaces' if ds.vocab else 'token ids',
             'lowercased': bool(run.cfg.lowercase) if ds.vocab else None}
  timings = {}
  for name in names:
    if METRICS[name].of == 'model' and inputs.from_file:
      continue  # it scores the model, not the samples
    t = time.time()
    logging.info('evaluate: %s on %d samples', name, len(samples))
    results.update(METRICS[name].run(inputs))
    timings[name] = round(time.time() - t, 2)
  results['seconds'] = timings
  if not write:
    return results
  out_dir = os.path.join(workdir, 'eval')
  os.makedirs(out_dir, exist_ok=True)
  ckpt_lib.atomic_write_text(os.path.join(out_dir, 'metrics.json'),
                             json.dumps(results, indent=2))
  if 'length' in results:
    results['plots'] = _length_plot(results['length'], out_dir)
  ckpt_lib.atomic_write_text(os.path.join(out_dir, 'report.md'), _markdown(results))
  return results


def _encode_samples(run, sample_lists) -> np.ndarray:
  """Token lists of a samples file -> [N, T] ids (over-long ones truncated)."""
  ds = run.dataset
  T = ds.max_length
  out = np.zeros((len(sample_lists), T), np.int32)
  for i, s in enumerate(sample_lists):
    ids = ds.vocab.encode(s[:T - 1]) if ds.vocab else [int(t) for t in s[:T]]
    out[i, :len(ids)] = ids
  return out


def _real_lm(workdir: str, run, steps: int):
  """The LM trained on the real training set, cached in `<workdir>/eval/`."""
  ds = run.dataset
  gen, params = None, None
  path = os.path.join(workdir, 'eval', f'lm_real_{steps}.npz')
  if os.path.exists(path):
    template_gen, template = inference.train_lm(ds.train[:8], ds.vocab_size, ds.eos, steps=0)
    state, _ = ckpt_lib.restore(path, template)
    return template_gen, state
  gen, params = inference.train_lm(ds.train, ds.vocab_size, ds.eos, steps=steps)
  os.makedirs(os.path.dirname(path), exist_ok=True)
  ckpt_lib.save_to(path, params, {'steps': steps})
  return gen, params


def temperature_sweep(workdir: str, opts: EvalOptions) -> list[dict]:
  """Metrics at each of `opts.temperatures` -> `<workdir>/eval/sweep.csv` and
  PNG plots (`opts.num_samples` samples each).

  With `opts.compare_workdir` (e.g. the MLE baseline) its curve is computed
  too and drawn on the same axes.
  """
  rows = []
  runs = [(workdir, opts.checkpoint)] + ([(opts.compare_workdir, '')]
                                         if opts.compare_workdir else [])
  for label, (wd, ck) in zip(run_labels([wd for wd, _ in runs]), runs):
    loaded = experiment.load_generator(wd, ck, with_data=True)
    names = metric_names(opts.metrics, loaded[0].oracle_params is not None, sweep=True)
    for t in opts.temperatures:
      logging.info('sweep: %s at temperature %g (%s)', label, t, ', '.join(names))
      r = evaluate_run(wd, dataclasses.replace(opts, metrics=names, temperature=t),
                       write=False, loaded=loaded)
      rows.append(_flat_row(label, t, r))
  out_dir = os.path.join(workdir, 'eval')
  os.makedirs(out_dir, exist_ok=True)
  keys = sorted({k for r in rows for k in r} - {'run', 'temperature'})
  csv = ['run,temperature,' + ','.join(keys)]
  for r in rows:
    csv.append(f"{r['run']},{r['temperature']}," + ','.join(str(r.get(k, '')) for k in keys))
  ckpt_lib.atomic_write_text(os.path.join(out_dir, 'sweep.csv'), '\n'.join(csv) + '\n')
  pngs = _plots(rows, out_dir)
  md = ['# Temperature sweep', ''] + markdown_table(
      ['run', 'temperature'] + keys,
      [[r['run'], f"{r['temperature']:g}"] + [
          f'{r[k]:.4f}' if isinstance(r.get(k), float) else str(r.get(k, '')) for k in keys]
       for r in rows])
  md += [''] + [f'![{p}]({p})' for p in pngs]
  if not pngs:
    md.append('(no plots: `pip install matplotlib` for the PNG curves)')
  ckpt_lib.atomic_write_text(os.path.join(out_dir, 'sweep.md'), '\n'.join(md) + '\n')
  return rows


def run_labels(workdirs: list[str]) -> list[str]:
  """Distinct short names of run folders: the folder's name, or as many of its
  parents as it takes to tell them apart (two `scripts/sweep.py` runs are both
  `_bf21a9_s0` in different sweeps)."""
  parts = [os.path.abspath(w).split(os.sep) for w in workdirs]
  for k in range(1, max(len(p) for p in parts) + 1):
    labels = ['/'.join(p[-k:]) for p in parts]
    if len(set(labels)) == len(labels):
      return labels
  return [f'{p[-1]} ({i + 1})' for i, p in enumerate(parts)]  # the same folder twice


def _flat_row(label, t, r):
  row = {'run': label, 'temperature': t}
  for k, v in r.items():
    if isinstance(v, dict):
      for kk, vv in v.items():
        if isinstance(vv, (int, float)) and not isinstance(vv, bool):
          row[kk if k in ('bleu', 'self_bleu') else f'{k}/{kk}'] = vv
    elif isinstance(v, float):
      row[k] = v
  return row


PLOTS = (('self_bleu5', 'bleu5', 'bleu5_vs_self_bleu5.png'),
         ('reverse_lm_score', 'lm_score', 'lm_vs_reverse_lm.png'),
         ('temperature', 'fed[use]/value', 'fed_vs_temperature.png'),
         ('nll_oracle', 'lm_score', 'nll_oracle_vs_lm.png'),
         ('temperature', 'nll_oracle', 'nll_oracle_vs_temperature.png'))


def _plots(rows, out_dir) -> list[str]:
  plt = pyplot()
  if plt is None:
    return []
  written = []
  for x, y, fname in PLOTS:
    pts = [r for r in rows if x in r and y in r]
    if not pts:
      continue
    fig, ax = plt.subplots(figsize=(5, 4))
    for label in dict.fromkeys(r['run'] for r in pts):
      sel = [r for r in pts if r['run'] == label]
      ax.plot([r[x] for r in sel], [r[y] for r in sel], 'o-', label=label)
      for r in sel:
        ax.annotate(f"{r['temperature']:g}", (r[x], r[y]), fontsize=7)
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    ax.legend()
    save_figure(fig, os.path.join(out_dir, fname), dpi=100)
    written.append(fname)
  return written


def _length_plot(length: dict, out_dir: str) -> list[str]:
  """Sentence-length histogram of the samples against the data (PNG)."""
  plt = pyplot()
  if plt is None:
    return []
  fig, ax = plt.subplots(figsize=(5, 3.5))
  for key, label in (('data_hist', 'data'), ('samples_hist', 'samples')):
    h = np.asarray(length[key], float)
    ax.plot(np.arange(len(h)), h / max(h.sum(), 1), drawstyle='steps-mid', label=label)
  ax.set_xlabel('tokens per sentence')
  ax.set_ylabel('fraction')
  ax.legend()
  save_figure(fig, os.path.join(out_dir, 'length_hist.png'), dpi=100)
  return ['length_hist.png']


def _markdown(r: dict) -> str:
  case = {True: ', lowercased', False: ', case kept'}.get(r.get('lowercased'), '')
  lines = ['# Evaluation', '', f'Source: `{r["source"]}`, {r["num_samples"]} samples '
           f'({r.get("num_empty", 0)} empty), '
           f'tokenisation: {r["tokenisation"]}{case}.', '']
  rows = []
  for k, v in r.items():
    if k in ('source', 'num_samples', 'num_empty', 'tokenisation', 'lowercased', 'seconds',
             'neighbours'):
      continue
    if isinstance(v, dict):
      for kk, vv in v.items():
        if isinstance(vv, float):
          rows.append((f'{k}/{kk}', f'{vv:.4f}'))
        elif not isinstance(vv, list):
          rows.append((f'{k}/{kk}', vv))
    elif isinstance(v, float):
      rows.append((k, f'{v:.4f}'))
  lines += markdown_table(['metric', 'value'], rows)
  for png in r.get('plots', []):
    lines += ['', f'![{png}]({png})']
  if r.get('neighbours'):
    lines += ['', '## Nearest training sentences', '']
    for e in r['neighbours']:
      lines.append(f"**Sample:** {e['sample']}")
      for kind, nbs in e.items():
        if kind == 'sample':
          continue
        lines.append(f'- by {kind} similarity:')
        lines += [f'  - ({c:.3f}) {t}' for t, c in nbs]
      lines.append('')
  return '\n'.join(lines) + '\n'


def main(workdir: str, opts: EvalOptions, data_cfg: Config | None = None) -> None:
  """--mode=evaluate. `data_cfg`: score `opts.samples_path` against the
  references of this config's dataset, with no training run in `workdir`."""
  loaded = None
  if data_cfg is not None:
    if opts.temperatures:
      raise ConfigError('--temperatures samples a model: --workdir must be a training '
                        'run (without one, --samples_path scores a file of samples)')
    run = experiment.prepare(data_cfg.replace(num_devices=0, distributed=False),
                             training=False)
    loaded = (run, None, None)
  if opts.temperatures:
    temperature_sweep(workdir, opts)
    with open(os.path.join(workdir, 'eval', 'sweep.csv'), encoding='utf-8') as f:
      print(f.read())
    return
  print(_markdown(evaluate_run(workdir, opts, loaded=loaded)))
