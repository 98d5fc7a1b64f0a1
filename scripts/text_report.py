"""The real-text comparisons at T = 1 and over temperature: ScratchGAN, our MLE
and the real training text, as one Markdown table and one plot per dataset.

  python scripts/text_report.py --dataset=coco --out results/coco \
      --gan RUNS/coco_scratchgan --mle RUNS/coco_mle --real RUNS/coco_real_text
  python scripts/text_report.py --dataset=emnlp2017 --out results/emnlp2017 \
      --gan RUNS/emnlp2017_small_scratchgan --mle RUNS/emnlp2017_small_mle \
      --real RUNS/emnlp2017_real_text

Each of --gan/--mle/--real is a workdir whose eval/metrics.json was written by
`launch.py --mode=evaluate` (--real: the training text scored as samples,
`--samples_path`). --gan's eval/sweep.csv (a `--temperatures` sweep with
`--compare_workdir` = the MLE run) gives the two temperature curves.

COCO (coco.md, bleu5_vs_self_bleu5.png): the peers' numbers are Texygen's
published tables (docs/evaluation.md; copied in ../shared/reference/peers.md).
They are not computed the same way: Texygen lower-cases and tokenises with
nltk.word_tokenize (we split on spaces, so "wheel." is one token), and its
Self-BLEU includes each hypothesis among its own references, which inflates it.
Read them as the field's landmarks, not as exact comparisons.

EMNLP2017 (emnlp2017.md, fed_vs_temperature.png): FED against temperature, the
shape of the paper's Fig 3b. The paper's curves (read from the figure;
../shared/reference/paper.md) are drawn beside ours for their shape only: the
paper trains a larger model on the full 270k-sentence training set for 200k steps.
"""
import argparse
import csv
import json
import os
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from scratchgan_jax.evaluate import fed_value  # noqa: E402
from scratchgan_jax.writers import markdown_table, pyplot, save_figure  # noqa: E402

# Texygen docs/evaluation.md, COCO image captions: BLEU-5 and Self-BLEU-5.
TEXYGEN = {'SeqGAN': (0.180, 0.489), 'MaliGAN': (0.159, 0.437), 'RankGAN': (0.156, 0.618),
           'LeakGAN': (0.230, 0.780), 'TextGAN': (0.207, 0.746), 'MLE (Texygen)': (0.189, 0.408)}


def load(workdir):
  with open(os.path.join(workdir, 'eval', 'metrics.json'), encoding='utf-8') as f:
    return json.load(f)


def row(name, m):
  b, s = m.get('bleu', {}), m.get('self_bleu', {})
  fed = fed_value(m)
  length = m.get('length', {})
  nov = m.get('novelty', {})
  cells = [name, m.get('num_samples')]
  cells += [b.get(f'bleu{n}') for n in (2, 3, 4, 5)]
  cells += [s.get(f'self_bleu{n}') for n in (2, 3, 4, 5)]
  cells += [fed, m.get('lm_score'), m.get('reverse_lm_score'), length.get('samples_mean'),
            nov.get('exact_copies'), nov.get('mean_longest_match')]
  return [fmt(c) for c in cells]


def fmt(v):
  if v is None:
    return '–'
  if isinstance(v, float):
    return f'{v:.3f}'
  return str(v)


def table(evals):
  """The Markdown table of the evaluations at T = 1, one row per source."""
  return markdown_table(
      ['source', 'n', 'BLEU-2', 'BLEU-3', 'BLEU-4', 'BLEU-5', 'SBLEU-2', 'SBLEU-3', 'SBLEU-4',
       'SBLEU-5', 'FED', 'LM', 'rev-LM', 'length', 'copies', 'longest match'],
      [row(k, v) for k, v in evals.items()])


def load_sweep(gan, out):
  """`gan`'s eval/sweep.csv, copied to `out`: its run names in order, its rows,
  and its FED column (None without one)."""
  path = os.path.join(gan, 'eval', 'sweep.csv')
  with open(path, encoding='utf-8') as f:
    rows = list(csv.DictReader(f))
  shutil.copy(path, os.path.join(out, 'sweep.csv'))
  runs = list(dict.fromkeys(r['run'] for r in rows))
  fed_key = next((k for k in rows[0] if k.startswith('fed[') and k.endswith('/value')), None)
  return runs, rows, fed_key


def write_report(out, filename, md, **workdirs):
  """Writes the Markdown report and copies each workdir's eval/metrics.json."""
  for name, wd in workdirs.items():
    shutil.copy(os.path.join(wd, 'eval', 'metrics.json'), os.path.join(out, f'{name}_metrics.json'))
  with open(os.path.join(out, filename), 'w', encoding='utf-8') as f:
    f.write('\n'.join(md) + '\n')
  print('\n'.join(md))


# Paper Fig 3b (values read from the vector figure, paper.md): FED against T.
PAPER_T = [0.70, 0.75, 0.80, 0.85, 0.90, 0.95, 1.00, 1.05, 1.10, 1.15, 1.20, 1.25, 1.30, 1.35]
PAPER_FED = {
    'ScratchGAN (paper)': [.0565, .0445, .0352, .0278, .0227, .0195, .0186, .0211, .0238,
                           .0284, .0344, .0433, .0517, .0604],
    'MLE (paper)': [.0546, .0422, .0341, .0286, .0231, .0207, .0200, .0213, .0253, .0303,
                    .0367, .0457, .0534, .0644]}


def coco_report(a, evals):
  md = ['# COCO captions: ScratchGAN against MLE and the real text', '',
        'BLEU against the 10k test captions; Self-BLEU among the samples (each '
        'against the others); FED[use] against the test captions; LM score: NLL '
        'of the samples under an LSTM trained on the training text; reverse-LM: '
        'NLL of the test captions under an LSTM trained on the samples (nats per '
        'token); length in tokens; copies: samples that are training sentences.',
        ''] + table(evals)
  runs, rows, fed_key = load_sweep(a.gan, a.out)
  md += ['', '## Temperature sweeps', ''] + markdown_table(
      ['run', 'T', 'BLEU-5', 'Self-BLEU-5', 'FED'],
      [[r['run'], r['temperature'], f"{float(r['bleu5']):.3f}", f"{float(r['self_bleu5']):.3f}",
        fmt(float(r[fed_key])) if fed_key and r.get(fed_key) else '–'] for r in rows])
  plt = pyplot()
  if plt is not None:
    fig, ax = plt.subplots(figsize=(6, 4.5))
    for run in runs:
      sel = [r for r in rows if r['run'] == run]
      xs = [float(r['self_bleu5']) for r in sel]
      ys = [float(r['bleu5']) for r in sel]
      ax.plot(xs, ys, 'o-', label=f'{run} (ours, over T)')
      for r, x, y in zip(sel, xs, ys):
        ax.annotate(f"{float(r['temperature']):g}", (x, y), fontsize=7)
    real = evals['training text']
    ax.plot(real['self_bleu']['self_bleu5'], real['bleu']['bleu5'], 'k*', ms=12,
            label='training text')
    for name, (bleu5, sbleu5) in TEXYGEN.items():
      ax.plot(sbleu5, bleu5, 'x', color='gray')
      ax.annotate(name, (sbleu5, bleu5), fontsize=7, color='gray')
    ax.set_xlabel('Self-BLEU-5 (lower: more diverse)')
    ax.set_ylabel('BLEU-5 against test captions (higher: better)')
    ax.set_title('COCO: quality against diversity (x: Texygen, published)', fontsize=9)
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    save_figure(fig, os.path.join(a.out, 'bleu5_vs_self_bleu5.png'))
    md += ['', '![BLEU-5 against Self-BLEU-5](bleu5_vs_self_bleu5.png)']
  write_report(a.out, 'coco.md', md, gan=a.gan, mle=a.mle, real=a.real)


def emnlp_report(a, evals):
  md = ['# EMNLP2017 News (12.5k-sentence subset): ScratchGAN against MLE and the real text',
        '', 'FED[use] and BLEU against the 10k validation sentences; Self-BLEU among '
        'the samples; length in tokens; copies: samples that are training sentences.',
        ''] + table(evals)
  runs, rows, fed_key = load_sweep(a.gan, a.out)
  # --gan's curve comes first, then --mle's (the --compare_workdir).
  names = dict(zip(runs, ['ScratchGAN', 'MLE']))
  for r in rows:
    r['run'] = names.get(r['run'], r['run'])
  runs = [names.get(r, r) for r in runs]
  temps = sorted({float(r['temperature']) for r in rows})
  by = {(r['run'], float(r['temperature'])): r for r in rows}

  def fed_of(run, t):
    r = by.get((run, t))
    return float(r[fed_key]) if r is not None and fed_key and r.get(fed_key) else None

  md += ['', '## FED against temperature', ''] + markdown_table(
      ['T'] + runs, [[f'{t:g}'] + [fmt(fed_of(run, t)) for run in runs] for t in temps])
  best = {run: min(((fed_of(run, t), t) for t in temps if fed_of(run, t) is not None),
                   default=(None, None)) for run in runs}
  md += [''] + [f'Best FED of {run}: {fmt(v)} at T = {t:g}' for run, (v, t) in best.items()
                if v is not None]
  plt = pyplot()
  if plt is not None and fed_key:
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.6))
    for run in runs:
      pts = [(t, fed_of(run, t)) for t in temps if fed_of(run, t) is not None]
      axes[0].plot(*zip(*pts), 'o-', label=run)
    real_fed = fed_value(evals['training text'])
    if real_fed is not None:
      axes[0].axhline(real_fed, color='k', ls=':', label='training text')
    axes[0].set_title('ours: 12.5k sentences, CPU scale', fontsize=9)
    for name, fed in PAPER_FED.items():
      axes[1].plot(PAPER_T, fed, 's--', ms=3, label=name)
    axes[1].set_title('paper Fig 3b (read from the figure)', fontsize=9)
    for ax in axes:
      ax.set_xlabel('softmax temperature')
      ax.set_ylabel('FED[use] against validation (lower: better)')
      ax.legend(fontsize=7)
      ax.grid(alpha=0.3)
    save_figure(fig, os.path.join(a.out, 'fed_vs_temperature.png'))
    md += ['', '![FED against temperature](fed_vs_temperature.png)']
  write_report(a.out, 'emnlp2017.md', md, gan=a.gan, mle=a.mle, real=a.real)


REPORTS = {'coco': coco_report, 'emnlp2017': emnlp_report}


def main(argv=None):
  p = argparse.ArgumentParser(description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument('--dataset', required=True, choices=sorted(REPORTS))
  p.add_argument('--out', required=True)
  p.add_argument('--gan', required=True)
  p.add_argument('--mle', required=True)
  p.add_argument('--real', required=True)
  a = p.parse_args(argv)
  os.makedirs(a.out, exist_ok=True)
  evals = {'ScratchGAN (T = 1)': load(a.gan), 'MLE (T = 1)': load(a.mle),
           'training text': load(a.real)}
  REPORTS[a.dataset](a, evals)


if __name__ == '__main__':
  main()
