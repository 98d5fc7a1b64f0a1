"""`python -m scratchgan_jax`: the command line (same flags as `launch.py`)."""
from scratchgan_jax.cli import run

if __name__ == '__main__':
  run()
