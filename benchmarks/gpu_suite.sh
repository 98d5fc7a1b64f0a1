#!/usr/bin/env bash
# The GPU numbers of BENCHMARKS.md in one command (one accelerator):
#
#   bash benchmarks/gpu_suite.sh [OUT.jsonl] [SECTION ...]
#
# Sections (default: all): paper (the paper preset, float32 and bf16, with the
# per-part breakdown), sweep (batch 512 -> 8192 in one chunk, float32 and bf16,
# and with a fixed microbatch of 512), large (vocabulary 20,000; automatic
# microbatching up to batch 65,536; the largest one-chunk batch).
#
# Each configuration runs in its own process, so peak GPU memory
# (memory_stats()['peak_bytes_in_use']) is that configuration's alone. A
# configuration that fails (out of memory) is recorded as {"failed": true, ...}
# with the last line of its error.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-benchmarks/results/step_time_gpu.jsonl}
shift || true
SECTIONS=${*:-paper sweep large}
export XLA_PYTHON_CLIENT_MEM_FRACTION=${XLA_PYTHON_CLIENT_MEM_FRACTION:-0.95}
PY=${PYTHON:-python3}
ST=benchmarks/step_time.py

ONE_TIMEOUT=300
. benchmarks/suite_lib.sh

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
if has paper; then
  one --preset=paper --steps=20
  one --preset=paper --steps=20 --compute_dtype=bfloat16
  one --preset=paper --steps=10 --breakdown
  one --preset=paper --steps=10 --breakdown --compute_dtype=bfloat16
fi
if has sweep; then
  for dt in float32 bfloat16; do
    for b in 1024 2048 4096 8192; do
      one --preset=paper --steps=5 --batch_sizes=$b --compute_dtype=$dt
    done
  done
  for b in 1024 2048 4096 8192; do
    one --preset=paper --steps=5 --batch_sizes=$b --microbatch=512
  done
fi
if has large; then
  one --preset=paper --steps=10 --vocab=20000
  one --preset=paper --steps=10 --vocab=20000 --compute_dtype=bfloat16
  # Automatic microbatching (launch.py's default): the budget is 60% of the GPU.
  for b in 8192 16384 32768 65536; do
    one --preset=paper --steps=3 --batch_sizes=$b --auto_chunks
  done
  one --preset=paper --steps=3 --batch_sizes=8192 --auto_chunks --vocab=20000
  # One chunk past what fits: the out-of-memory failure it replaces.
  one --preset=paper --steps=3 --batch_sizes=16384
fi
