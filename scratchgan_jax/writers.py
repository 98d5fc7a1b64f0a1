"""Run outputs: metrics.jsonl, TensorBoard events, readable samples, progress, a log file."""
from __future__ import annotations

import json
import math
import os
import sys
import time

from absl import logging

from scratchgan_jax import checkpoint as ckpt_lib


def pyplot(required: bool = False):
  """matplotlib.pyplot on the headless Agg backend, or None when not installed.

  Plots are optional outputs (the `plots` and `test` extras install
  matplotlib); with `required=True` a missing matplotlib is a clear error.
  """
  try:
    import matplotlib  # pylint: disable=g-import-not-at-top
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  except ImportError:
    if required:
      raise ImportError('this command draws plots: pip install matplotlib '
                        '(or the package with its [plots] extra)') from None
    return None
  return plt


def save_figure(fig, path: str, dpi: int = 80) -> None:
  """Lays `fig` out tightly, writes it to `path` (PNG by its name) and closes it."""
  fig.tight_layout()
  fig.savefig(path, dpi=dpi)
  pyplot().close(fig)


def markdown_table(header, rows) -> list[str]:
  """The lines of a GitHub Markdown table: `header`, the rule, one line per row
  (cells str()-ed; an empty cell is written `| |`)."""
  def line(cells):
    return '|' + '|'.join(f' {c} ' if str(c) else ' ' for c in cells) + '|'
  return [line(header), '|' + '---|' * len(header)] + [line(r) for r in rows]


def append_jsonl(path: str, rows: list[dict]) -> None:
  """Appends `rows` to `path`, one JSON object per line (the probes' output)."""
  with open(path, 'a', encoding='utf-8') as f:
    f.writelines(json.dumps(r) + '\n' for r in rows)


def _clean(v):
  if hasattr(v, 'item'):
    v = v.item()
  if isinstance(v, float) and not math.isfinite(v):
    return str(v)
  return v


def read_metrics(path: str) -> list[dict]:
  """The complete rows of a metrics.jsonl (`path`: the file or its workdir); a
  torn last line of a killed run, or a corrupt one, is skipped."""
  if os.path.isdir(path):
    path = os.path.join(path, 'metrics.jsonl')
  if not os.path.exists(path):
    return []
  rows = []
  with open(path, encoding='utf-8', errors='replace') as f:
    for line in f:
      try:
        row = json.loads(line)
      except json.JSONDecodeError:
        continue
      if isinstance(row, dict):
        rows.append(row)
  return rows


class MetricWriter:
  """Appends one JSON object per call to `<workdir>/metrics.jsonl`.

  After `open_tensorboard`, every row also goes to TensorBoard event files in
  `<workdir>/tensorboard` (scalars under `train/` and `eval/`, samples as text),
  written with tensorboardX (no TensorFlow needed).
  """

  def __init__(self, workdir: str, enabled: bool = True):
    self.path = os.path.join(workdir, 'metrics.jsonl')
    self.workdir = workdir
    self.enabled = enabled
    self.tb = None

  def open_tensorboard(self, purge_step: int | None = None) -> bool:
    """Starts TensorBoard events; on resume, `purge_step` drops the events a
    killed attempt wrote past the restored checkpoint. False without tensorboardX."""
    if not self.enabled:
      return False
    try:
      from tensorboardX import SummaryWriter  # pylint: disable=g-import-not-at-top
    except ImportError:
      logging.info('No TensorBoard events: pip install "scratchgan-jax[tensorboard]".')
      return False
    self.tb = SummaryWriter(os.path.join(self.workdir, 'tensorboard'),
                            purge_step=purge_step, flush_secs=30)
    return True

  def write_text(self, step: int, tag: str, text: str) -> None:
    if self.tb is not None:
      self.tb.add_text(tag, text, int(step))

  def close(self) -> None:
    if self.tb is not None:
      self.tb.close()
      self.tb = None

  def truncate_after(self, step: int) -> None:
    """On resume: drop rows logged after the restored checkpoint's step.

    A torn line (a write cut by a kill or a full disk) is dropped too.
    """
    if not self.enabled or not os.path.exists(self.path):
      return
    rows = [json.dumps(r) + '\n' for r in self.read() if r.get('step', 0) <= step]
    ckpt_lib.atomic_write_text(self.path, ''.join(rows))

  def write(self, step: int, metrics: dict) -> None:
    if not self.enabled:
      return
    row = {'step': int(step), **{k: _clean(v) for k, v in metrics.items()}}
    with open(self.path, 'a', encoding='utf-8') as f:
      f.write(json.dumps(row) + '\n')
    if self.tb is not None:
      prefix = 'eval/' if row.get('eval') else 'train/'
      for k, v in row.items():
        if k not in ('step', 'eval') and isinstance(v, (int, float)) and not isinstance(v, bool):
          self.tb.add_scalar(prefix + k, v, int(step))

  def read(self) -> list[dict]:
    """Every complete row; a torn or corrupt line is skipped."""
    return read_metrics(self.path)


def write_samples(path: str, sentences: list[str]) -> None:
  ckpt_lib.atomic_write_text(path, '\n'.join(sentences) + '\n')


class Progress:
  """Steps/s and ETA for the logs; a one-line bar when stderr is a terminal."""

  def __init__(self, start_step: int, num_steps: int):
    self.start_step = start_step
    self.num_steps = num_steps
    self.t0 = time.time()
    self.tty = sys.stderr.isatty()

  def rate(self, step: int) -> tuple[float, float]:
    done = step - self.start_step
    elapsed = max(time.time() - self.t0, 1e-9)
    sps = done / elapsed if done > 0 else 0.0
    eta = (self.num_steps - step) / sps if sps > 0 else float('inf')
    return sps, eta

  def update(self, step: int) -> None:
    if not self.tty:
      return
    sps, eta = self.rate(step)
    frac = step / self.num_steps
    bar = '#' * int(30 * frac) + '-' * (30 - int(30 * frac))
    sys.stderr.write(f'\r[{bar}] {step}/{self.num_steps} {sps:.2f} steps/s '
                     f'ETA {format_seconds(eta)}   ')
    sys.stderr.flush()

  def close(self) -> None:
    if self.tty:
      sys.stderr.write('\n')


def format_seconds(s: float) -> str:
  if not math.isfinite(s):
    return '?'
  s = int(s)
  return f'{s // 3600}h{s % 3600 // 60:02d}m' if s >= 3600 else f'{s // 60}m{s % 60:02d}s'


_FILE_HANDLERS: dict[str, object] = {}


def log_to_file(workdir: str) -> None:
  """Also write absl logs to `<workdir>/log.txt` (once per workdir)."""
  import logging as std_logging
  path = os.path.abspath(os.path.join(workdir, 'log.txt'))
  if path in _FILE_HANDLERS:
    return
  handler = std_logging.FileHandler(path)
  handler.setFormatter(std_logging.Formatter('%(asctime)s %(levelname)s %(message)s'))
  logging.get_absl_logger().addHandler(handler)
  _FILE_HANDLERS[path] = handler


def stop_logging_to_file(workdir: str) -> None:
  """Detach the workdir's log file (a notebook's next run logs elsewhere)."""
  path = os.path.abspath(os.path.join(workdir, 'log.txt'))
  handler = _FILE_HANDLERS.pop(path, None)
  if handler is not None:
    logging.get_absl_logger().removeHandler(handler)
    handler.close()
