#!/usr/bin/env bash
# Reruns the measured study of RESULTS.md, one stage after another.
#
#   scripts/reproduce.sh [--quick] [OUT]        (default OUT: runs/study)
#
# Every stage is a `scripts/sweep.py` call: resumable (rerun the same command
# after an interruption and finished runs are skipped), one workdir per run,
# and a table (summary.md, results.csv) plus a plot (sweep.png) per stage.
# --quick runs every stage at a toy size (a few steps, tiny data) so the test
# suite can check that the study still runs end to end; its numbers mean nothing.
#
# Stages (full size, 2-core CPU, one run at a time):
#   1. oracle sweep A: 16 random points x 2 seeds of the default experiment's
#      learning rates, gamma, baseline decay, discriminator dropout and width
#      (batch 128, 500 steps; ~40 minutes)
#   2. the default experiment (experiments/oracle_scratchgan.cfg), 3 seeds (~20 min)
#   3. the MLE baseline (experiments/oracle_mle.cfg), 3 seeds (~12 min)
#   4. NLL-oracle against NLL-test over temperature for both (~4 min)
set -euo pipefail
cd "$(dirname "$0")/.."
QUICK=0
if [ "${1:-}" = "--quick" ]; then QUICK=1; shift; fi
OUT=${1:-runs/study}
PY=${PYTHON:-python}
mkdir -p "$OUT"

if [ $QUICK = 1 ]; then
  SIZE=(--num_steps=4 --eval_every=2 --checkpoint_every=2 --log_every=2
        --num_eval_samples=32 --batch_size=16 --oracle_num_train=64
        --oracle_num_valid=64 --oracle_vocab_size=50)
  POINTS=2; SEEDS_A=0; SEEDS=0; TEMPS=0.8,1.0; NUM=64
else
  SIZE=()
  POINTS=16; SEEDS_A=0,1; SEEDS=0,1,2; TEMPS=0.7,0.8,0.9,1.0,1.1,1.2; NUM=2000
fi
A_SIZE=(--num_steps=500 --eval_every=100 --checkpoint_every=250)
[ $QUICK = 1 ] && A_SIZE=()

echo "== 1. oracle sweep A"
$PY scripts/sweep.py --out="$OUT/sweep_oracle_a" --seeds=$SEEDS_A --num_points=$POINTS \
  --search_seed=0 --title="Oracle sweep A: random search, batch 128, 500 steps" \
  --random gen_lr=log:1e-4:3e-3 disc_lr=log:1e-3:3e-2 gamma=0.23,0.5,0.8,0.95 \
           baseline_decay=0.08,0.5,0.9 disc_dropout=0.1,0.3,0.5 disc_feature_size=32,64,128 \
  -- --flagfile=experiments/oracle_scratchgan.cfg "${A_SIZE[@]}" "${SIZE[@]}"

echo "== 2. the default experiment, seeds $SEEDS"
$PY scripts/sweep.py --out="$OUT/oracle_scratchgan" --seeds=$SEEDS \
  --title="experiments/oracle_scratchgan.cfg" \
  -- --flagfile=experiments/oracle_scratchgan.cfg "${SIZE[@]}"

echo "== 3. the MLE baseline, seeds $SEEDS"
$PY scripts/sweep.py --out="$OUT/oracle_mle" --seeds=$SEEDS \
  --title="experiments/oracle_mle.cfg" \
  -- --flagfile=experiments/oracle_mle.cfg --eval_every=100 "${SIZE[@]}"

echo "== 4. quality against coverage over temperature"
$PY scripts/oracle_tradeoff.py --out="$OUT/oracle_tradeoff" --temperatures=$TEMPS \
  --num_samples=$NUM --mle "$OUT"/oracle_mle/*_s* --gan "$OUT"/oracle_scratchgan/*_s*

echo "study written to $OUT"
