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

import json
import os
import time

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
from scratchgan_jax.writers import pyplot

ALL_TEXT = ('bleu', 'self_bleu', 'fed', 'ppl', 'length', 'novelty', 'neighbours')
SWEEP_TEXT = ('bleu', 'self_bleu', 'fed', 'lm', 'rlm')
DEFAULT_TEMPERATURES = (0.7, 0.8, 0.9, 1.0, 1.1, 1.2, 1.3)
SWEEP_ORACLE = ('nll_oracle', 'lm', 'rlm')
ALL_ORACLE = ('nll_oracle', 'nll_test', 'length')


ORACLE_OK = ('nll_oracle', 'nll_test', 'length', 'novelty', 'lm', 'rlm')
TEXT_ONLY = ('bleu', 'self_bleu', 'fed', 'ppl', 'neighbours')
KNOWN = tuple(dict.fromkeys(ORACLE_OK + TEXT_ONLY))


def _check_metric_names(names, oracle: bool) -> None:
  for name in names:
    if name not in KNOWN:
      raise ConfigError(f'--metrics: unknown metric {name!r} (known: {", ".join(KNOWN)})')
    if oracle and name not in ORACLE_OK:
      raise ConfigError(f'--metrics={name}: not defined on the oracle (token ids, no '
                        f'text references); use {", ".join(ORACLE_OK)}')
    if not oracle and name in ('nll_oracle', 'nll_test'):
      raise ConfigError(f'--metrics={name}: needs --dataset=oracle')


def evaluate_run(workdir: str, *, checkpoint: str = '', samples_path: str = '',
                 metric_names: tuple[str, ...] = (), num_samples: int = 10000,
                 temperature: float = 1.0, seed: int = 0, fed_encoder: str = 'use',
                 max_references: int = 10000, lm_steps: int = 2000, write: bool = True,
                 loaded=None, num_neighbours: int = 5) -> dict:
  run, params, ckpt = loaded or experiment.load_generator(workdir, checkpoint, with_data=True,
                                                          prefer_best=True)
  ds = run.dataset
  oracle = run.oracle_params is not None
  names = metric_names or (ALL_ORACLE if oracle else ALL_TEXT)
  _check_metric_names(names, oracle)
  valid_only = {'ppl', 'nll_test'}
  if samples_path:
    if run.oracle_params is not None:
      toks = oracle_lib.read_id_file(samples_path, ds.vocab_size)
      sample_lists = [[str(t) for t in row] for row in toks]
    else:
      lines = data_lib.read_lines(samples_path, '--samples_path', keep_blank=True)
      sample_lists = [l.split(' ') for l in lines]
      toks = None
    source = samples_path
  else:
    toks = inference.sample_tokens(run.setup.gen, params, num_samples, seed, temperature)
    sample_lists = [ds.decode(t).split(' ') if ds.vocab else [str(int(x)) for x in t]
                    for t in toks]
    if params is None:
      raise ConfigError('--workdir is not a training run: give --samples_path (a file of '
                        'samples to score) or the workdir of a trained run')
    source = f'{ckpt} (T={temperature}, seed={seed})'
  # An empty sample (immediate end of sentence) is an empty hypothesis: it counts.
  sample_lists = [[] if s == [''] else s for s in sample_lists]
  refs = (ds.valid_sentences or [])[:max_references]
  ref_lists = [r.split(' ') for r in refs]
  results = {'source': source, 'num_samples': len(sample_lists),
             'num_empty': sum(not s for s in sample_lists),
             'tokenisation': 'split on single spaces' if ds.vocab else 'token ids',
             'lowercased': bool(run.cfg.lowercase) if ds.vocab else None}
  timings = {}
  for name in names:
    t = time.time()
    logging.info('evaluate: %s on %d samples', name, len(sample_lists))
    if name == 'bleu':
      b = metrics_lib.bleu_all(sample_lists, ref_lists)
      results['bleu'] = {f'bleu{n}': v for n, v in b.items()}
      results['bleu']['num_references'] = len(ref_lists)
      results['bleu']['references'] = 'validation set'
    elif name == 'self_bleu':
      b = metrics_lib.self_bleu_all(sample_lists)
      results['self_bleu'] = {f'self_bleu{n}': v for n, v in b.items()}
    elif name == 'fed':
      enc = encoders.make_encoder(fed_encoder)
      results[f'fed[{fed_encoder}]'] = {
          'value': metrics_lib.fed([' '.join(s) for s in sample_lists], refs, enc),
          'num_samples': len(sample_lists), 'num_references': len(refs)}
    elif name == 'nll_oracle':
      if run.oracle_params is None:
        raise ConfigError('--metrics=nll_oracle needs an oracle run')
      arr = toks if toks is not None else np.asarray(sample_lists, np.int32)
      results['nll_oracle'] = oracle_lib.nll(run.oracle_params, arr)
    elif name in valid_only:
      if samples_path:
        continue  # scores the model, not the samples
      nll = inference.token_nll(run.setup.gen, params, ds.valid, ds.eos)
      if name == 'nll_test':
        results['nll_test'] = nll
      else:
        results['valid_nll'] = nll
        results['valid_ppl'] = float(np.exp(nll))
    elif name == 'lm':
      lm_gen, lm_params = _real_lm(workdir, run, lm_steps)
      arr = toks if toks is not None else _encode_samples(run, sample_lists)
      results['lm_score'] = inference.token_nll(lm_gen, lm_params, arr, ds.eos)
    elif name == 'rlm':
      arr = toks if toks is not None else _encode_samples(run, sample_lists)
      rlm_gen, rlm_params = inference.train_lm(arr, ds.vocab_size, ds.eos, steps=lm_steps,
                                              seed=seed)
      results['reverse_lm_score'] = inference.token_nll(rlm_gen, rlm_params, ds.valid, ds.eos)
    elif name == 'length':
      lens = np.array([len(s) for s in sample_lists])
      data_lens = ds.valid_length - (1 if ds.eos else 0)
      results['length'] = {'samples_mean': float(lens.mean()),
                            'data_mean': float(data_lens.mean()),
                            'samples_hist': np.bincount(lens).tolist(),
                            'data_hist': np.bincount(data_lens).tolist()}
    elif name == 'novelty':
      train = ([s.split(' ') for s in ds.train_sentences] if ds.train_sentences
               else [[str(int(t)) for t in row] for row in ds.train])  # oracle ids
      lm = metrics_lib.longest_match(sample_lists, train)
      train_set = {tuple(s) for s in train}
      results['novelty'] = {
          'longest_match_hist': np.bincount(lm, minlength=11).tolist(),
          'exact_copies': int(sum(tuple(s) in train_set for s in sample_lists)),
          'mean_longest_match': float(lm.mean())}
    elif name == 'neighbours':
      if ds.vocab is None:
        continue  # token ids have no meaningful neighbours
      train_text = list(dict.fromkeys(ds.train_sentences or []))  # unique, in order
      picks = [i for i, s in enumerate(sample_lists) if s][:num_neighbours]
      queries = [sample_lists[i] for i in picks]
      ng = metrics_lib.ngram_neighbours(queries, [t.split(' ') for t in train_text])
      entry = [{'sample': ' '.join(q),
                'ngram3': [[train_text[i], round(c, 4)] for i, c in nb]}
               for q, nb in zip(queries, ng)]
      try:
        enc = encoders.make_encoder(fed_encoder)
        emb = metrics_lib.embedding_neighbours(enc([' '.join(q) for q in queries]),
                                               enc(train_text))
        for e, nb in zip(entry, emb):
          e[f'embedding[{fed_encoder}]'] = [[train_text[i], round(c, 4)] for i, c in nb]
      except encoders.EncoderUnavailable:
        pass
      results['neighbours'] = entry
    else:
      raise ConfigError(f'--metrics: unknown metric {name!r}')
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


def temperature_sweep(workdir: str, temperatures, *, compare_workdir: str = '',
                      metric_names: tuple[str, ...] = (), num_samples: int = 2000,
                      seed: int = 0, fed_encoder: str = 'use', lm_steps: int = 2000,
                      checkpoint: str = '') -> list[dict]:
  """Metrics at each temperature -> `<workdir>/eval/sweep.csv` and PNG plots.

  With `compare_workdir` (e.g. the MLE baseline) its curve is computed too and
  drawn on the same axes.
  """
  rows = []
  runs = [(workdir, checkpoint)] + ([(compare_workdir, '')] if compare_workdir else [])
  for label, (wd, ck) in zip(run_labels([wd for wd, _ in runs]), runs):
    loaded = experiment.load_generator(wd, ck, with_data=True)
    names = metric_names or (SWEEP_ORACLE if loaded[0].oracle_params is not None
                             else SWEEP_TEXT)
    for t in temperatures:
      logging.info('sweep: %s at temperature %g (%s)', label, t, ', '.join(names))
      r = evaluate_run(wd, metric_names=names, num_samples=num_samples, temperature=t,
                       seed=seed, fed_encoder=fed_encoder, lm_steps=lm_steps,
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
  md = ['# Temperature sweep', '', '| ' + ' | '.join(['run', 'temperature'] + keys) + ' |',
        '|' + '---|' * (len(keys) + 2)]
  for r in rows:
    cells = [r['run'], f"{r['temperature']:g}"] + [
        f'{r[k]:.4f}' if isinstance(r.get(k), float) else str(r.get(k, '')) for k in keys]
    md.append('| ' + ' | '.join(cells) + ' |')
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
    fig.tight_layout()
    fig.savefig(os.path.join(out_dir, fname), dpi=100)
    plt.close(fig)
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
  fig.tight_layout()
  fig.savefig(os.path.join(out_dir, 'length_hist.png'), dpi=100)
  plt.close(fig)
  return ['length_hist.png']


def _markdown(r: dict) -> str:
  case = {True: ', lowercased', False: ', case kept'}.get(r.get('lowercased'), '')
  lines = ['# Evaluation', '', f'Source: `{r["source"]}`, {r["num_samples"]} samples '
           f'({r.get("num_empty", 0)} empty), '
           f'tokenisation: {r["tokenisation"]}{case}.', '', '| metric | value |',
           '|---|---|']
  for k, v in r.items():
    if k in ('source', 'num_samples', 'num_empty', 'tokenisation', 'lowercased', 'seconds',
             'neighbours'):
      continue
    if isinstance(v, dict):
      for kk, vv in v.items():
        if isinstance(vv, float):
          lines.append(f'| {k}/{kk} | {vv:.4f} |')
        elif not isinstance(vv, list):
          lines.append(f'| {k}/{kk} | {vv} |')
    elif isinstance(v, float):
      lines.append(f'| {k} | {v:.4f} |')
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


def main_from_flags(workdir: str, flags_obj, checkpoint: str,
                    data_cfg: Config | None = None) -> None:
  """--mode=evaluate. `data_cfg`: score --samples_path against the references of
  this config's dataset, with no training run in `workdir`."""
  names = tuple(m for m in flags_obj.metrics.split(',') if m) if flags_obj.metrics else ()
  loaded = None
  if data_cfg is not None:
    if flags_obj.temperatures:
      raise ConfigError('--temperatures samples a model: --workdir must be a training '
                        'run (without one, --samples_path scores a file of samples)')
    run = experiment.prepare(data_cfg.replace(num_devices=0, distributed=False),
                             training=False)
    loaded = (run, None, None)
  if flags_obj.temperatures:
    try:
      temps = (list(DEFAULT_TEMPERATURES) if flags_obj.temperatures == 'default'
               else [float(t) for t in flags_obj.temperatures.split(',')])
    except ValueError:
      raise ConfigError(f'--temperatures={flags_obj.temperatures!r}: expected '
                        'comma-separated numbers') from None
    rows = temperature_sweep(workdir, temps, compare_workdir=flags_obj.compare_workdir,
                             metric_names=names, num_samples=flags_obj.eval_num_samples,
                             seed=flags_obj.seed, fed_encoder=flags_obj.fed_encoder,
                             lm_steps=flags_obj.lm_steps, checkpoint=checkpoint)
    with open(os.path.join(workdir, 'eval', 'sweep.csv'), encoding='utf-8') as f:
      print(f.read())
    return
  r = evaluate_run(workdir, checkpoint=checkpoint, samples_path=flags_obj.samples_path,
                   metric_names=names, num_samples=flags_obj.eval_num_samples,
                   temperature=flags_obj.temperature, seed=flags_obj.seed,
                   fed_encoder=flags_obj.fed_encoder, lm_steps=flags_obj.lm_steps,
                   loaded=loaded)
  print(_markdown(r))
