#!/usr/bin/env bash
# The CPU numbers of BENCHMARKS.md in one command (run it alone: it measures time):
#
#   bash benchmarks/cpu_suite.sh [OUT.jsonl] [SECTION ...]
#
# Sections (default: bench sweep scaling; emnlp needs an older checkout):
#   bench    the cpu-bench step with launch.py's defaults (automatic microbatching)
#            and the PyTorch reference, 10 steps each, three alternating rounds (~4 min)
#   sweep    the paper preset (G 2x512, D 1x512, embedding 300 + 64, vocabulary
#            5,700, length 52) at batch 512 -> 8192 with a fixed microbatch of 512,
#            and in one chunk at 512 and 1024 (one chunk at 8192 would need ~75 GB);
#            one timed step each, after compiling and without a warm-up call
#            (a step at 8192 takes minutes on 2 cores), then 512 and 1024 warm
#            (one untimed step first); ~20 min in all
#   emnlp    the emnlp2017-small step (experiments/emnlp2017_small_scratchgan.cfg's
#            shapes) at this checkout and at $OLD_CODE (a checkout of an older commit,
#            default ../wt_old), three alternating rounds of 10 steps, then one
#            --breakdown of this checkout's step, rendered by step_report.py
#            into benchmarks/results/emnlp_step.md (~6 min)
#   scaling  the cpu-bench step on 1, 2, 4, 8 simulated CPU devices
#            (JAX_NUM_CPU_DEVICES) sharing this machine's cores: strong scaling at
#            a fixed global batch of 64 and weak scaling at 64 per device (~8 min)
#
# Each configuration runs in its own process, so its peak process memory
# (ru_maxrss) is its own. A configuration that fails is recorded as
# {"failed": true, ...} with the last line of its error.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-benchmarks/results/step_time_cpu.jsonl}
shift || true
SECTIONS=${*:-bench sweep scaling}
PY=${PYTHON:-python3}
ST=benchmarks/step_time.py
export JAX_PLATFORMS=cpu

ONE_TIMEOUT=1800
. benchmarks/suite_lib.sh

if has bench; then
  # The default step (automatic microbatching: one chunk at this size) and the
  # PyTorch reference of the same step, in three alternating rounds, so that the
  # machine's drift (+-10% here) hits both alike: compare the medians.
  for round in 1 2 3; do
    one --preset=cpu-bench --steps=10 --auto_chunks
    "$PY" benchmarks/torch_step.py --steps=10 --threads=2 | grep '^{' | tee -a "${TORCH_OUT:-benchmarks/results/torch_step_cpu.jsonl}"
  done
fi
if has emnlp; then
  for round in 1 2 3; do
    one --preset=emnlp2017-small --steps=10 --auto_chunks
    one --preset=emnlp2017-small --steps=10 --auto_chunks --code="${OLD_CODE:-../wt_old}"
  done
  "$PY" "$ST" --preset=emnlp2017-small --breakdown --steps=5 | grep '^{' \
    | tee -a "${BREAKDOWN_OUT:-benchmarks/results/step_breakdown_cpu.jsonl}"
  "$PY" benchmarks/step_report.py > /dev/null  # benchmarks/results/emnlp_step.md and the others
fi
if has sweep; then
  for b in 512 1024 2048 4096 8192; do
    one --preset=paper --steps=1 --no_warmup --batch_sizes=$b --microbatch=512
  done
  for b in 512 1024; do
    one --preset=paper --steps=1 --no_warmup --batch_sizes=$b --grad_chunks=1
  done
  # Warm (one untimed step first): the ~5-7 s first-call cost weighs most here.
  for b in 512 1024; do
    one --preset=paper --steps=1 --batch_sizes=$b --microbatch=512
  done
fi
if has scaling; then
  for n in 1 2 4 8; do
    JAX_NUM_CPU_DEVICES=$n one --preset=cpu-bench --steps=3 --batch_sizes=64 --grad_chunks=$n
    JAX_NUM_CPU_DEVICES=$n one --preset=cpu-bench --steps=3 --batch_sizes=$((64 * n)) --grad_chunks=$n
  done
fi
