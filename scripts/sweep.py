#!/usr/bin/env python3
"""Grid or random search over launch.py flags (`scratchgan-sweep` when
installed); see `python scripts/sweep.py --help` and scratchgan_jax/sweep.py."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from scratchgan_jax.sweep import main  # noqa: E402

if __name__ == '__main__':
  sys.exit(main())
