"""`--mode=evaluate`: the evaluation suite on a run or on a file of samples.

    python launch.py --mode=evaluate --workdir=RUN [--checkpoint=...]
        [--samples_path=FILE] [--metrics=bleu,self_bleu,fed,nll_oracle,nll_test,ppl,length,novelty]
        [--eval_num_samples=10000] [--eval_temperature=1.0]

Writes `<workdir>/eval/metrics.json` and `<workdir>/eval/report.md`. Every
result records the sample and reference counts and the tokenisation.
"""
from __future__ import annotations

import json
import os
import time

import numpy as np

from scratchgan_jax import checkpoint as ckpt_lib
from scratchgan_jax import data as data_lib
from scratchgan_jax import evaluate as eval_lib
from scratchgan_jax import experiment
from scratchgan_jax import metrics as metrics_lib
from scratchgan_jax import oracle as oracle_lib
from scratchgan_jax.config import ConfigError

ALL_TEXT = ('bleu', 'self_bleu', 'fed', 'ppl', 'length', 'novelty')
ALL_ORACLE = ('nll_oracle', 'nll_test', 'length')


def evaluate_run(workdir: str, *, checkpoint: str = '', samples_path: str = '',
                 metric_names: tuple[str, ...] = (), num_samples: int = 10000,
                 temperature: float = 1.0, seed: int = 0, fed_encoder: str = 'use',
                 max_references: int = 10000) -> dict:
  run, params, ckpt = experiment.load_generator(workdir, checkpoint, prefer_best=True)
  ds = run.dataset
  names = metric_names or (ALL_ORACLE if run.oracle_params is not None else ALL_TEXT)
  valid_only = {'ppl', 'nll_test'}
  if samples_path:
    if run.oracle_params is not None:
      toks = oracle_lib.read_id_file(samples_path, ds.vocab_size)
      sample_lists = [[str(t) for t in row] for row in toks]
    else:
      lines = data_lib.read_lines(samples_path, '--samples_path')
      sample_lists = [l.split(' ') for l in lines]
      toks = None
    source = samples_path
  else:
    toks = eval_lib.sample_tokens(run.setup.gen, params, num_samples, seed, temperature)
    sample_lists = [ds.decode(t).split(' ') if ds.vocab else [str(int(x)) for x in t]
                    for t in toks]
    source = f'{ckpt} (T={temperature}, seed={seed})'
  sample_lists = [s for s in sample_lists if s != ['']] or [['']]
  refs = (ds.valid_sentences or [])[:max_references]
  ref_lists = [r.split(' ') for r in refs]
  results = {'source': source, 'num_samples': len(sample_lists),
             'tokenisation': 'split on single spaces, case kept' if ds.vocab else 'token ids'}
  timings = {}
  for name in names:
    t = time.time()
    if name == 'bleu':
      b = metrics_lib.bleu_all(sample_lists, ref_lists)
      results['bleu'] = {f'bleu{n}': v for n, v in b.items()}
      results['bleu']['num_references'] = len(ref_lists)
      results['bleu']['references'] = 'validation set'
    elif name == 'self_bleu':
      b = metrics_lib.self_bleu_all(sample_lists)
      results['self_bleu'] = {f'self_bleu{n}': v for n, v in b.items()}
    elif name == 'fed':
      enc = metrics_lib.make_encoder(fed_encoder)
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
      nll = eval_lib.token_nll(run.setup.gen, params, ds.valid, ds.eos)
      if name == 'nll_test':
        results['nll_test'] = nll
      else:
        results['valid_nll'] = nll
        results['valid_ppl'] = float(np.exp(nll))
    elif name == 'length':
      lens = np.array([len(s) for s in sample_lists])
      data_lens = ds.valid_length - (1 if ds.eos else 0)
      results['length'] = {'samples_mean': float(lens.mean()),
                            'data_mean': float(data_lens.mean()),
                            'samples_hist': np.bincount(lens).tolist(),
                            'data_hist': np.bincount(data_lens).tolist()}
    elif name == 'novelty':
      train = [s.split(' ') for s in (ds.train_sentences or [])]
      lm = metrics_lib.longest_match(sample_lists, train)
      train_set = {tuple(s) for s in train}
      results['novelty'] = {
          'longest_match_hist': np.bincount(lm, minlength=11).tolist(),
          'exact_copies': int(sum(tuple(s) in train_set for s in sample_lists)),
          'mean_longest_match': float(lm.mean())}
    else:
      raise ConfigError(f'--metrics: unknown metric {name!r}')
    timings[name] = round(time.time() - t, 2)
  results['seconds'] = timings
  out_dir = os.path.join(workdir, 'eval')
  os.makedirs(out_dir, exist_ok=True)
  ckpt_lib.atomic_write_text(os.path.join(out_dir, 'metrics.json'),
                             json.dumps(results, indent=2))
  ckpt_lib.atomic_write_text(os.path.join(out_dir, 'report.md'), _markdown(results))
  return results


def _markdown(r: dict) -> str:
  lines = ['# Evaluation', '', f'Source: `{r["source"]}`, {r["num_samples"]} samples, '
           f'tokenisation: {r["tokenisation"]}.', '', '| metric | value |', '|---|---|']
  for k, v in r.items():
    if k in ('source', 'num_samples', 'tokenisation', 'seconds'):
      continue
    if isinstance(v, dict):
      for kk, vv in v.items():
        if isinstance(vv, float):
          lines.append(f'| {k}/{kk} | {vv:.4f} |')
        elif not isinstance(vv, list):
          lines.append(f'| {k}/{kk} | {vv} |')
    elif isinstance(v, float):
      lines.append(f'| {k} | {v:.4f} |')
  return '\n'.join(lines) + '\n'


def main_from_flags(workdir: str, flags_obj, checkpoint: str) -> None:
  names = tuple(m for m in flags_obj.metrics.split(',') if m) if flags_obj.metrics else ()
  r = evaluate_run(workdir, checkpoint=checkpoint, samples_path=flags_obj.samples_path,
                   metric_names=names, num_samples=flags_obj.eval_num_samples,
                   temperature=flags_obj.temperature, seed=flags_obj.seed,
                   fed_encoder=flags_obj.fed_encoder)
  print(_markdown(r))
