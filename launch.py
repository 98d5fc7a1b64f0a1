#!/usr/bin/env python3
"""scratchgan-jax command line, from a clone (installed: `scratchgan` or
`python -m scratchgan_jax`, the same flags). See scratchgan_jax/cli.py.

    python launch.py                                         # default experiment
    python launch.py --experiment=coco_scratchgan --train_path=... --valid_path=...
    python launch.py --flagfile=experiments/emnlp2017_scratchgan.cfg --data_dir=DIR
    python launch.py --mode=sample --workdir=runs/oracle_scratchgan --num_samples=10
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from scratchgan_jax.cli import main, run  # noqa: E402,F401  (tests call launch.run)

if __name__ == '__main__':
  run()
