"""scratchgan-jax command line: `python launch.py` in a clone, `scratchgan` or
`python -m scratchgan_jax` when installed (the same flags).

    scratchgan                                               # default experiment
    scratchgan --experiment=coco_scratchgan --train_path=... --valid_path=...
    scratchgan --flagfile=my.cfg --batch_size=64
    scratchgan --mode=sample --workdir=runs/oracle_scratchgan --num_samples=10
    scratchgan --mode=evaluate --workdir=runs/oracle_scratchgan

Every field of `scratchgan_jax.config.Config` is a flag of the same name; this
module is the only place that reads flags (the library receives a Config).
Later flags override earlier ones, so `--experiment=X --batch_size=64` changes
one value of experiment X. Without a flagfile, the defaults are the default
experiment's (`oracle_scratchgan`), `text_scratchgan`'s for
`--dataset=text`/`tfds:NAME`, or `emnlp2017_small_scratchgan`'s for
`--dataset=emnlp2017` (without their data paths): what `--help` shows is what a
run gets.
"""
from __future__ import annotations

import dataclasses
import os
import sys

from absl import app
from absl import flags
from absl import logging

from scratchgan_jax.config import PATH_FIELDS, Config, ConfigError

EXPERIMENTS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'experiments')
DEFAULT_EXPERIMENT = 'oracle_scratchgan'
# The defaults of --dataset=text/tfds and of --dataset=emnlp2017 without a
# flagfile (their CPU-sized model and training settings; data paths are the user's).
TEXT_EXPERIMENT = 'text_scratchgan'
EMNLP_EXPERIMENT = 'emnlp2017_small_scratchgan'


def experiment_names() -> list[str]:
  """The shipped experiments (`--experiment=NAME`), from the installed package."""
  return sorted(f[:-4] for f in os.listdir(EXPERIMENTS_DIR) if f.endswith('.cfg'))


def experiment_path(name: str) -> str:
  path = os.path.join(EXPERIMENTS_DIR, f'{name}.cfg')
  if not os.path.exists(path):
    raise ConfigError(f'--experiment={name}: no such experiment; one of '
                      + ', '.join(experiment_names()))
  return path


DEFAULT_FLAGFILE = os.path.join(EXPERIMENTS_DIR, f'{DEFAULT_EXPERIMENT}.cfg')

# --help groups the Config flags by what they set (first field of each group).
_GROUPS = [('experiment', 'objective'), ('data', 'dataset'), ('synthetic oracle', 'oracle_params'),
           ('embeddings', 'embedding_path'), ('generator', 'gen_feature_size'),
           ('discriminator', 'disc_feature_size'), ('REINFORCE', 'gamma'),
           ('beyond the paper (off by default)', 'baseline_type'),
           ('training loop and evaluation during training', 'batch_size'),
           ('distributed and memory', 'distributed')]


def _define_config_flags():
  for f in dataclasses.fields(Config):
    help_text = f.metadata.get('help', f.name)
    choices = f.metadata.get('choices')
    if f.type == 'bool':
      flags.DEFINE_bool(f.name, f.default, help_text)
    elif f.type == 'int':
      flags.DEFINE_integer(f.name, f.default, help_text)
    elif f.type == 'float':
      flags.DEFINE_float(f.name, f.default, help_text)
    elif choices:
      flags.DEFINE_enum(f.name, f.default, list(choices), help_text)
    else:
      flags.DEFINE_string(f.name, f.default, help_text)


_define_config_flags()
flags.DEFINE_string('experiment', '', 'A shipped experiment by name (the flagfile '
                    'EXPERIMENTS_DIR/NAME.cfg; later flags override it): '
                    + ', '.join(experiment_names()))
MODE = flags.DEFINE_enum('mode', 'train', ['train', 'sample', 'evaluate'],
                         'train a model, sample from a run, or evaluate a run '
                         'or a file of samples.')
WORKDIR = flags.DEFINE_string('workdir', '', 'Run folder (default: '
                              'runs/<flagfile name>).')
CHECKPOINT = flags.DEFINE_string('checkpoint', '', 'sample/evaluate: checkpoint '
                                 'file (default: the best, else the latest), or '
                                 '"average": the mean of the kept checkpoints\' '
                                 'generators.')
NUM_SAMPLES = flags.DEFINE_integer('num_samples', 10, 'sample: sentences to write.')
TEMPERATURE = flags.DEFINE_float('temperature', 1.0, 'sample: softmax temperature.')
OUTPUT = flags.DEFINE_string('output', '', 'sample: output file (default: stdout).')
flags.DEFINE_string('samples_path', '', 'evaluate: a file of samples to score '
                    'instead of the model (one per line; token ids for the oracle).')
flags.DEFINE_string('metrics', '', 'evaluate: comma-separated subset of bleu, '
                    'self_bleu, fed, ppl, length, novelty, nll_oracle, nll_test '
                    '(default: all that apply).')
flags.DEFINE_integer('eval_num_samples', 10000, 'evaluate: samples drawn from the model.')
flags.DEFINE_string('temperatures', '', 'evaluate: comma-separated softmax '
                    'temperatures for a quality-diversity sweep, or "default" '
                    '(0.7,0.8,...,1.3).')
flags.DEFINE_string('compare_workdir', '', 'evaluate sweep: a second run (e.g. the '
                    'MLE baseline) drawn on the same axes.')
flags.DEFINE_integer('lm_steps', 2000, 'evaluate: training steps of the LSTM '
                     'language models behind the LM and reverse-LM scores.')


def config_from_flags() -> Config:
  values = {f.name: getattr(flags.FLAGS, f.name) for f in dataclasses.fields(Config)}
  # Paths are stored absolute in the workdir's config.json: sampling and
  # evaluating a run then work from any directory.
  return Config(**values).with_absolute_paths().validate()


_DEFAULTS_FROM = []  # the experiment whose values are the defaults of this command


def _default_workdir(argv_flagfiles: list[str]) -> str:
  # Without a flagfile: the folder of the experiment that gave the defaults
  # (the default experiment's, where a bare run trains, so `--mode=sample` /
  # `--mode=evaluate` find that run).
  flagfile = (argv_flagfiles[-1] if argv_flagfiles else
              (_DEFAULTS_FROM[-1] if _DEFAULTS_FROM else DEFAULT_FLAGFILE))
  return os.path.join('runs', os.path.splitext(os.path.basename(flagfile))[0])


def _check_mode_flags(mode: str) -> None:
  """Flags of launch.py itself (the Config fields are checked by Config.validate)."""
  if mode == 'sample' and NUM_SAMPLES.value <= 0:
    raise ConfigError(f'--num_samples={NUM_SAMPLES.value}: must be > 0')
  if mode == 'evaluate' and flags.FLAGS.eval_num_samples <= 0:
    raise ConfigError(f'--eval_num_samples={flags.FLAGS.eval_num_samples}: must be > 0')
  if mode in ('sample', 'evaluate') and TEMPERATURE.value <= 0:
    raise ConfigError(f'--temperature={TEMPERATURE.value}: must be > 0 (logits are '
                      'divided by it)')
  if flags.FLAGS.seed < 0:
    raise ConfigError(f'--seed={flags.FLAGS.seed}: must be >= 0')


def _arg_values(argv: list[str], name: str) -> list[str]:
  """Every value given to --NAME in argv (`--NAME=V` or `--NAME V`), in order."""
  out = []
  for i, a in enumerate(argv):
    if a.startswith(f'--{name}='):
      out.append(a.split('=', 1)[1])
    elif a == f'--{name}' and i + 1 < len(argv):
      out.append(argv[i + 1])
  return out


def _flagfiles(argv: list[str]) -> list[str]:
  return _arg_values(argv, 'flagfile')


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {" ".join(argv[1:])}')
  from scratchgan_jax import checkpoint as ckpt_lib
  from scratchgan_jax import data as data_lib
  from scratchgan_jax import parallel
  from scratchgan_jax import train as train_lib
  from scratchgan_jax import encoders
  # jax logs "Unable to initialize backend 'tpu'" at INFO on every machine
  # without one; that is not news to the user.
  import logging as py_logging  # pylint: disable=g-import-not-at-top
  py_logging.getLogger('jax._src.xla_bridge').setLevel(py_logging.WARNING)
  # Before the first computation: on CPU, XLA's memory-minimising scheduler
  # (half the peak memory of a large step, same speed, same results).
  parallel.use_cpu_memory_scheduler()
  user_errors = (ConfigError, data_lib.DataError, ckpt_lib.CheckpointError,
                 parallel.ParallelError, train_lib.TrainingError,
                 encoders.EncoderUnavailable)
  from scratchgan_jax import experiment
  try:
    _run(user_errors)
  except experiment.Interrupted as e:
    logging.flush()
    sys.stderr.write(f'{e}\n')
    sys.exit(e.exit_code)
  except user_errors as e:
    logging.flush()
    sys.stderr.write(f'error: {e}\n')
    sys.exit(2)
  except OSError as e:  # disk full, permissions, I/O errors while writing
    logging.flush()
    where = f'{e.filename}: ' if e.filename else ''
    sys.stderr.write(f'error: {where}{e.strerror or e}\n')
    sys.exit(2)
  except Exception as e:  # pylint: disable=broad-except
    _exit_if_a_peer_died(e)
    raise


def _exit_if_a_peer_died(e: Exception) -> None:
  """Multi-process: a collective that fails (a peer was killed or lost its host)
  ends this process at once with one line, instead of a traceback followed by a
  minute's wait in the distributed shutdown barrier and an abort."""
  import jax
  if not isinstance(e, jax.errors.JaxRuntimeError) or jax.process_count() == 1:
    return
  logging.flush()
  first = (str(e).strip().splitlines() or [''])[0][:300]
  sys.stderr.write(
      f'error: process {jax.process_index()} of {jax.process_count()}: a collective '
      f'failed, most likely because another process died ({first}); restart every '
      'process with the same flags to resume from the last checkpoint\n')
  sys.stderr.flush()
  # The shutdown barrier cannot complete without the dead peer; every file this
  # process writes is already whole (atomic checkpoints, line-wise metrics).
  os._exit(3)


def _run(user_errors):
  import jax
  from scratchgan_jax import experiment
  from scratchgan_jax import parallel
  workdir = WORKDIR.value or _default_workdir(_flagfiles(sys.argv))
  if '://' in workdir:
    raise ConfigError(f'--workdir={workdir}: only a local or mounted filesystem path is '
                      'supported (checkpoints are written with os.replace); mount the '
                      'bucket (e.g. gcsfuse) or use a shared filesystem such as NFS')
  mode = MODE.value
  _check_mode_flags(mode)
  if mode == 'train':
    cfg = config_from_flags()
    if cfg.distributed:
      parallel.initialize_distributed(cfg.coordinator_address, cfg.num_processes,
                                      cfg.process_id)
    summary = experiment.train(cfg, workdir)  # makes the workdir once inputs check out
    if summary and jax.process_index() == 0:
      with open(os.path.join(workdir, 'summary.md'), encoding='utf-8') as f:
        print(f.read())
  elif mode == 'sample':
    lines = experiment.sample(workdir, NUM_SAMPLES.value, TEMPERATURE.value,
                              flags.FLAGS.seed, CHECKPOINT.value)
    text = '\n'.join(lines) + '\n'
    if OUTPUT.value:
      from scratchgan_jax import checkpoint as ckpt_lib
      ckpt_lib.atomic_write_text(OUTPUT.value, text)
    else:
      sys.stdout.write(text)
  else:
    from scratchgan_jax import evaluate
    data_cfg = None
    if (flags.FLAGS.samples_path
        and not os.path.exists(os.path.join(workdir, 'config.json'))):
      # Scoring a file of samples with no training run: the dataset flags alone
      # define the references; the workdir receives eval/ only.
      data_cfg = config_from_flags()
    evaluate.main(workdir, _eval_options(), data_cfg)


def _eval_options():
  from scratchgan_jax import evaluate
  f = flags.FLAGS
  temps = ()
  if f.temperatures:
    try:
      temps = (evaluate.DEFAULT_TEMPERATURES if f.temperatures == 'default'
               else tuple(float(t) for t in f.temperatures.split(',')))
    except ValueError:
      raise ConfigError(f'--temperatures={f.temperatures!r}: expected '
                        'comma-separated numbers') from None
  return evaluate.EvalOptions(
      metrics=tuple(m for m in f.metrics.split(',') if m), checkpoint=CHECKPOINT.value,
      samples_path=f.samples_path, num_samples=f.eval_num_samples,
      temperature=TEMPERATURE.value, temperatures=temps,
      compare_workdir=f.compare_workdir, seed=f.seed, fed_encoder=f.fed_encoder,
      lm_steps=f.lm_steps)


def _parse_flags(argv):
  try:
    return flags.FLAGS(argv)
  except flags.Error as e:
    msg = str(e)
    while msg.lower().startswith('error:'):  # absl's own prefix, not doubled
      msg = msg[6:].lstrip(': ')
    sys.stderr.write(f'error: {msg}\n')
    sys.exit(2)


def _flagfile_values(path: str) -> dict[str, str | bool]:
  """{name: value} of the `--name=value` / `--name` / `--noname` lines of a flagfile."""
  out = {}
  with open(path, encoding='utf-8') as f:
    for line in f:
      line = line.strip()
      if not line.startswith('--'):
        continue
      name, eq, value = line[2:].partition('=')
      if eq:
        out[name] = value
      elif name.startswith('no') and name[2:] in flags.FLAGS and name not in flags.FLAGS:
        out[name[2:]] = False
      else:
        out[name] = True
  return out


def _use_defaults_of(path: str) -> None:
  """The experiment's values become the flags' defaults (and --help shows them)."""
  for name, value in _flagfile_values(path).items():
    if name not in PATH_FIELDS:  # an experiment's data paths are not defaults
      flags.FLAGS.set_default(name, value)
  _DEFAULTS_FROM.append(path)


def _expand_experiments(argv: list[str]) -> list[str]:
  """--experiment=NAME -> --flagfile=<package>/experiments/NAME.cfg, in place."""
  out, skip = [], False
  for i, a in enumerate(argv):
    if skip:
      skip = False
      continue
    name = None
    if a.startswith('--experiment='):
      name = a.split('=', 1)[1]
    elif a == '--experiment' and i + 1 < len(argv):
      name, skip = argv[i + 1], True
    if name is None:
      out.append(a)
      continue
    try:
      out.append(f'--flagfile={experiment_path(name)}')
    except ConfigError as e:
      sys.stderr.write(f'error: {e}\n')
      sys.exit(2)
  return out


def _print_help() -> None:
  """--help: the flags in groups, with the defaults a run without a flagfile gets."""
  by_name = {f.name: f for f in dataclasses.fields(Config)}
  starts = {first: title for title, first in _GROUPS}
  src = os.path.basename(_DEFAULTS_FROM[-1]) if _DEFAULTS_FROM else 'Config'
  lines = [__doc__.strip(), '', f'Defaults shown: {src} (a --flagfile or --experiment '
           'replaces them with its own values over Config\'s).', '']
  title = None
  for name in by_name:
    if name in starts:
      title = starts[name]
      lines.append(f'{title}:')
    fl = flags.FLAGS[name]
    lines.append(f'  --{name}  (default: {fl.default!r})')
    lines.append(f'      {fl.help}')
  lines += ['', 'command:']
  for name in ('experiment', 'mode', 'workdir', 'checkpoint', 'num_samples', 'temperature',
               'output', 'samples_path', 'metrics', 'eval_num_samples', 'temperatures',
               'compare_workdir', 'lm_steps'):
    fl = flags.FLAGS[name]
    lines.append(f'  --{name}  (default: {fl.default!r})')
    lines.append(f'      {fl.help}')
  lines += ['', 'All flags, absl\'s included: --helpfull.']
  sys.stdout.write('\n'.join(lines) + '\n')


def run():
  argv = _expand_experiments(sys.argv)
  sampling = any(a.startswith(('--mode=s', '--mode=e')) for a in argv)
  if not _flagfiles(argv) and not sampling:
    dataset = (_arg_values(argv, 'dataset') or ['oracle'])[-1]
    name = {'oracle': DEFAULT_EXPERIMENT,
            'emnlp2017': EMNLP_EXPERIMENT}.get(dataset, TEXT_EXPERIMENT)
    _use_defaults_of(experiment_path(name))
  if any(a in ('--help', '-h', '-?', '--helpshort') for a in argv[1:]):
    _print_help()
    sys.exit(0)
  sys.argv = argv
  app.run(main, flags_parser=_parse_flags)


if __name__ == '__main__':
  run()
