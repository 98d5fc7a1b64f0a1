#!/usr/bin/env bash
# Reruns the measured study of RESULTS.md, one stage after another.
#
#   scripts/reproduce.sh [--quick] [--only=N,...] [OUT]   (default OUT: runs/study)
#
# --only=6,7 runs those stages only (stage 4 needs the runs of stages 2 and 3).
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
#      (batch 128, 500 steps; ~80 minutes)
#   2. the default experiment (experiments/oracle_scratchgan.cfg), 3 seeds (~20 min)
#   3. the MLE baseline (experiments/oracle_mle.cfg), 3 seeds (~12 min)
#   4. NLL-oracle against NLL-test over temperature for both (~4 min)
#   5. COCO captions (needs ../shared/data/coco/texygen_txt, or COCO_DIR): ScratchGAN
#      (experiments/coco_scratchgan.cfg, ~25 min) and MLE (coco_mle.cfg, ~15 min),
#      all metrics at T = 1 on 10k samples, the real training text scored the same
#      way, temperature sweeps of both, and the comparison with Texygen's
#      published peers (scripts/coco_report.py; ~25 min of evaluation); both
#      models on every seed of REAL_SEEDS (default 0,1), the seeds after the first
#      scored at T = 1 and summarised by scripts/seeds_report.py (coco/seeds.md)
#   6. EMNLP2017 News, 12.5k-sentence subset (needs ../shared/data/emnlp2017/
#      scratchgan_json, or EMNLP_DIR): ScratchGAN (emnlp2017_small_scratchgan.cfg,
#      ~28 min) and MLE (emnlp2017_small_mle.cfg, ~17 min), FED/BLEU at T = 1 on
#      10k samples, the training text, FED over temperature, the FED learning
#      curves (scripts/emnlp_report.py, scripts/plot_runs.py; ~10 min of evaluation);
#      both models on every seed of REAL_SEEDS, spread in emnlp2017/seeds.md
#   7. the ablation waterfall on the oracle (experiments/ablation_oracle_*.cfg),
#      3 seeds per step, and a small-batch control at equal wall-clock
#      (scripts/ablation_report.py; ~55 min)
#   8. oracle sweep B: batch size 128 -> 1024 at equal examples seen (= equal
#      wall-clock on CPU), learning rates fixed and scaled by sqrt(batch / 128),
#      2 seeds, then each run's best checkpoint on the NLL-oracle / NLL-test plane
#      beside stages 2-4 (scripts/batch_sweep_report.py, oracle_tradeoff.py; ~70 min)
set -euo pipefail
cd "$(dirname "$0")/.."
QUICK=0; ONLY=""
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) QUICK=1; shift ;;
    --only=*) ONLY=${1#--only=}; shift ;;
    -*) echo "error: $1: unknown option (--quick, --only=N,...)" >&2; exit 2 ;;
    *) break ;;
  esac
done
if [[ -n "$ONLY" && ! "$ONLY" =~ ^[1-8](,[1-8])*$ ]]; then
  echo "error: --only=$ONLY: comma-separated stage numbers 1-8" >&2; exit 2
fi
OUT=${1:-runs/study}
want() { [ -z "$ONLY" ] || [[ ",$ONLY," == *",$1,"* ]]; }
PY=${PYTHON:-python}
mkdir -p "$OUT"

if [ $QUICK = 1 ]; then
  SIZE=(--num_steps=4 --eval_every=2 --checkpoint_every=2 --log_every=2
        --num_eval_samples=32 --batch_size=16 --oracle_num_train=64
        --oracle_num_valid=64 --oracle_vocab_size=50)
  POINTS=2; SEEDS_A=0; SEEDS=0; TEMPS=0.8,1.0; NUM=64; RSEEDS=0,1
else
  SIZE=()
  POINTS=16; SEEDS_A=0,1; SEEDS=0,1,2; TEMPS=0.7,0.8,0.9,1.0,1.1,1.2; NUM=2000
  RSEEDS=${REAL_SEEDS:-0,1}  # COCO and EMNLP2017: every model on these seeds
fi
# The workdirs of one stage's seeds, comma-separated (for seeds_report.py).
seed_dirs() { ls -d "$1"/*_s[0-9]* | paste -sd, -; }
A_SIZE=(--num_steps=500 --eval_every=100 --checkpoint_every=250)
[ $QUICK = 1 ] && A_SIZE=()

if want 1; then
  echo "== 1. oracle sweep A"
  $PY scripts/sweep.py --out="$OUT/sweep_oracle_a" --seeds=$SEEDS_A --num_points=$POINTS \
    --search_seed=0 --title="Oracle sweep A: random search, batch 128, 500 steps" \
    --random gen_lr=log:1e-4:3e-3 disc_lr=log:1e-3:3e-2 gamma=0.23,0.5,0.8,0.95 \
             baseline_decay=0.08,0.5,0.9 disc_dropout=0.1,0.3,0.5 disc_feature_size=32,64,128 \
    -- --flagfile=experiments/oracle_scratchgan.cfg "${A_SIZE[@]}" "${SIZE[@]}"
fi

if want 2; then
  echo "== 2. the default experiment, seeds $SEEDS"
  $PY scripts/sweep.py --out="$OUT/oracle_scratchgan" --seeds=$SEEDS \
    --title="experiments/oracle_scratchgan.cfg" \
    -- --flagfile=experiments/oracle_scratchgan.cfg "${SIZE[@]}"
fi

if want 3; then
  echo "== 3. the MLE baseline, seeds $SEEDS"
  $PY scripts/sweep.py --out="$OUT/oracle_mle" --seeds=$SEEDS \
    --title="experiments/oracle_mle.cfg" \
    -- --flagfile=experiments/oracle_mle.cfg --eval_every=100 "${SIZE[@]}"
fi

if want 4; then
  echo "== 4. quality against coverage over temperature"
  $PY scripts/oracle_tradeoff.py --out="$OUT/oracle_tradeoff" --temperatures=$TEMPS \
    --num_samples=$NUM --mle "$OUT"/oracle_mle/*_s* --gan "$OUT"/oracle_scratchgan/*_s*
fi

if want 5; then
  echo "== 5. COCO captions"
  COCO_DIR=${COCO_DIR:-../shared/data/coco/texygen_txt}
  if [ ! -f "$COCO_DIR/image_coco.txt" ]; then
    echo "skipped: no $COCO_DIR/image_coco.txt (set COCO_DIR to Texygen's texygen_txt folder)"
  else
    COCO=(--train_path="$COCO_DIR/image_coco.txt" --valid_path="$COCO_DIR/test_coco.txt")
    if [ $QUICK = 1 ]; then
      CSIZE=(--num_steps=4 --eval_every=2 --checkpoint_every=2 --log_every=2 --batch_size=16
             --num_eval_samples=32 --gen_feature_size=16 --disc_feature_size=16
             --trainable_embedding_size=8 --selection_metric=valid_nll)
      EVAL=(--eval_num_samples=64 --lm_steps=5); CMETRICS=bleu,self_bleu,length,novelty,lm,rlm
      RMETRICS=bleu,self_bleu,length,novelty; SMETRICS=bleu,self_bleu; CTEMPS=0.8,1.0
      SEEDMETRICS=bleu,self_bleu,ppl,length,novelty
    else
      # LM / reverse-LM: 500 steps of the 256-unit LSTM (~5 min each on 2 cores).
      CSIZE=(); EVAL=(--lm_steps=500); CMETRICS=bleu,self_bleu,fed,lm,rlm,ppl,length,novelty,neighbours
      RMETRICS=bleu,self_bleu,fed,length,novelty; SMETRICS=bleu,self_bleu,fed
      CTEMPS=0.7,0.8,0.9,1.0,1.1,1.2; SEEDMETRICS=bleu,self_bleu,fed,ppl,length,novelty
    fi
    for name in coco_scratchgan coco_mle; do
      $PY scripts/sweep.py --out="$OUT/$name" --seeds=$RSEEDS --metric=valid_nll --title="experiments/$name.cfg" \
        -- --flagfile=experiments/$name.cfg "${COCO[@]}" "${CSIZE[@]}"
    done
    GAN=$(ls -d "$OUT"/coco_scratchgan/*_s0); MLE=$(ls -d "$OUT"/coco_mle/*_s0)
    for wd in "$GAN" "$MLE"; do
      [ -f "$wd/eval/metrics.json" ] || $PY launch.py --mode=evaluate --workdir="$wd" \
        --metrics=$CMETRICS "${EVAL[@]}" > /dev/null
    done
    [ -f "$OUT/coco_real_text/eval/metrics.json" ] || $PY launch.py --mode=evaluate \
      --workdir="$OUT/coco_real_text" --samples_path="$COCO_DIR/image_coco.txt" \
      --flagfile=experiments/coco_mle.cfg "${COCO[@]}" --metrics=$RMETRICS "${EVAL[@]}" > /dev/null
    [ -f "$GAN/eval/sweep.csv" ] || $PY launch.py --mode=evaluate --workdir="$GAN" \
      --compare_workdir="$MLE" --temperatures=$CTEMPS --metrics=$SMETRICS "${EVAL[@]}" > /dev/null
    $PY scripts/coco_report.py --out="$OUT/coco" --gan="$GAN" --mle="$MLE" \
      --real="$OUT/coco_real_text" > /dev/null
    # The other seeds at T = 1 (no LM scores: 5 minutes each), then the spread.
    for wd in "$OUT"/coco_scratchgan/*_s[1-9]* "$OUT"/coco_mle/*_s[1-9]*; do
      [ -d "$wd" ] && { [ -f "$wd/eval/metrics.json" ] || $PY launch.py --mode=evaluate \
        --workdir="$wd" --metrics=$SEEDMETRICS "${EVAL[@]}" > /dev/null; }
    done
    $PY scripts/seeds_report.py --out="$OUT/coco/seeds.md" --title="COCO captions at T = 1, seeds $RSEEDS" \
      ScratchGAN="$(seed_dirs "$OUT/coco_scratchgan")" MLE="$(seed_dirs "$OUT/coco_mle")" > /dev/null
  fi
fi

if want 6; then
  echo "== 6. EMNLP2017 News (12.5k-sentence subset)"
  EMNLP_DIR=${EMNLP_DIR:-../shared/data/emnlp2017/scratchgan_json}
  if [ ! -f "$EMNLP_DIR/train_first12500.json" ]; then
    echo "skipped: no $EMNLP_DIR/train_first12500.json (set EMNLP_DIR to ScratchGAN's JSON folder)"
  else
    EM=(--train_path="$EMNLP_DIR/train_first12500.json" --valid_path="$EMNLP_DIR/valid.json")
    if [ $QUICK = 1 ]; then
      ESIZE=(--num_steps=4 --eval_every=2 --checkpoint_every=2 --log_every=2 --batch_size=16
             --num_eval_samples=32 --gen_feature_size=16 --disc_feature_size=16
             --trainable_embedding_size=8 --selection_metric=valid_nll)
      EEVAL=(--eval_num_samples=64); EMETRICS=bleu,self_bleu,length,novelty; ESWEEP=bleu
      ETEMPS=0.8,1.0; ECURVE=valid_nll,sample_length; EMETRIC=valid_nll
    else
      ESIZE=(); EEVAL=(); EMETRICS=fed,bleu,self_bleu,length,novelty; ESWEEP=fed
      ETEMPS=0.7,0.8,0.9,1.0,1.1,1.2,1.3; ECURVE=fed,sample_length,disc_prob_fake; EMETRIC=fed
    fi
    for name in emnlp2017_small_scratchgan emnlp2017_small_mle; do
      $PY scripts/sweep.py --out="$OUT/$name" --seeds=$RSEEDS --metric=$EMETRIC --title="experiments/$name.cfg" \
        -- --flagfile=experiments/$name.cfg "${EM[@]}" "${ESIZE[@]}"
    done
    GAN=$(ls -d "$OUT"/emnlp2017_small_scratchgan/*_s0); MLE=$(ls -d "$OUT"/emnlp2017_small_mle/*_s0)
    for wd in "$OUT"/emnlp2017_small_scratchgan/*_s[0-9]* "$OUT"/emnlp2017_small_mle/*_s[0-9]*; do
      [ -f "$wd/eval/metrics.json" ] || $PY launch.py --mode=evaluate --workdir="$wd" \
        --metrics=$EMETRICS "${EEVAL[@]}" > /dev/null
    done
    REAL="$OUT/emnlp2017_real_text"
    if [ ! -f "$REAL/eval/metrics.json" ]; then
      mkdir -p "$REAL"
      $PY -c 'import json, sys; print("\n".join(r["s"] for r in json.load(open(sys.argv[1]))))' \
        "$EMNLP_DIR/train_first12500.json" > "$REAL/train_sentences.txt"
      $PY launch.py --mode=evaluate --workdir="$REAL" --samples_path="$REAL/train_sentences.txt" \
        --flagfile=experiments/emnlp2017_small_mle.cfg "${EM[@]}" --metrics=$EMETRICS "${EEVAL[@]}" > /dev/null
    fi
    [ -f "$GAN/eval/sweep.csv" ] || $PY launch.py --mode=evaluate --workdir="$GAN" \
      --compare_workdir="$MLE" --temperatures=$ETEMPS --metrics=$ESWEEP "${EEVAL[@]}" > /dev/null
    $PY scripts/emnlp_report.py --out="$OUT/emnlp2017" --gan="$GAN" --mle="$MLE" --real="$REAL" > /dev/null
    $PY scripts/seeds_report.py --out="$OUT/emnlp2017/seeds.md" \
      --title="EMNLP2017 subset at T = 1, seeds $RSEEDS" \
      ScratchGAN="$(seed_dirs "$OUT/emnlp2017_small_scratchgan")" \
      MLE="$(seed_dirs "$OUT/emnlp2017_small_mle")" > /dev/null
    $PY scripts/plot_runs.py --out="$OUT/emnlp2017/training_curves.png" --metrics=$ECURVE \
      --title="EMNLP2017 subset: during training (1,000 samples per evaluation)" \
      ScratchGAN="$GAN" MLE="$MLE" > /dev/null
  fi
fi

if want 7; then
  echo "== 7. the ablation waterfall on the oracle, seeds $SEEDS"
  STEPS=()
  for name in 0_seqgan_step 1_large_batch 2_disc_reg 3_baseline; do
    $PY scripts/sweep.py --out="$OUT/ablation_oracle/$name" --seeds=$SEEDS \
      --title="experiments/ablation_oracle_$name.cfg" \
      -- --flagfile=experiments/ablation_oracle_$name.cfg "${SIZE[@]}"
    STEPS+=("$OUT/ablation_oracle/$name")
  done
  # The control: step 0 trained for the wall-clock time of a batch-256 run.
  $PY scripts/sweep.py --out="$OUT/ablation_oracle/0b_small_batch_long" --seeds=$SEEDS \
    --title="experiments/ablation_oracle_0b_small_batch_long.cfg" \
    -- --flagfile=experiments/ablation_oracle_0b_small_batch_long.cfg "${SIZE[@]}"
  $PY scripts/ablation_report.py --out="$OUT/ablation_oracle" \
    --title="Oracle ablation waterfall (paper Fig 3c at CPU scale)" "${STEPS[@]}" > /dev/null
fi

if want 8; then
  echo "== 8. oracle sweep B: batch size at equal examples seen"
  if [ $QUICK = 1 ]; then
    B_ZIP=(batch_size=16,32 num_steps=4,2 eval_every=2,1 checkpoint_every=2,1
           gen_lr=6.35e-4,8.98e-4 disc_lr=2.41e-2,3.41e-2); SEEDS_B=0
  else
    # 128 x 1,000 = 128k examples per run; the last three points scale both learning
    # rates by sqrt(batch / 128), keeping their ratio.
    B_ZIP=(batch_size=128,256,512,1024,256,512,1024 num_steps=1000,500,250,125,500,250,125
           eval_every=200,100,50,25,100,50,25 checkpoint_every=500,250,125,63,250,125,63
           gen_lr=6.35e-4,6.35e-4,6.35e-4,6.35e-4,8.98e-4,1.27e-3,1.8e-3
           disc_lr=2.41e-2,2.41e-2,2.41e-2,2.41e-2,3.41e-2,4.82e-2,6.82e-2); SEEDS_B=0,1
  fi
  $PY scripts/sweep.py --out="$OUT/sweep_oracle_batch" --seeds=$SEEDS_B \
    --title="Oracle sweep B: batch size at equal examples seen" --zip "${B_ZIP[@]}" \
    -- --flagfile=experiments/oracle_scratchgan.cfg "${SIZE[@]}"
  MLE_REF=(); [ -f "$OUT/oracle_mle/results.csv" ] && MLE_REF=(--mle="$OUT/oracle_mle")
  $PY scripts/batch_sweep_report.py --out="$OUT/sweep_oracle_batch" \
    --sweep="$OUT/sweep_oracle_batch" "${MLE_REF[@]}" > /dev/null
  if ls -d "$OUT"/oracle_mle/*_s* > /dev/null 2>&1; then
    # Stage 4's curves are copied from its tradeoff.csv, not measured again.
    REUSE=(); [ -f "$OUT/oracle_tradeoff/tradeoff.csv" ] && REUSE=(--reuse="$OUT/oracle_tradeoff/tradeoff.csv")
    $PY scripts/oracle_tradeoff.py --out="$OUT/oracle_tradeoff_batch" --temperatures=$TEMPS \
      --num_samples=$NUM --mle "$OUT"/oracle_mle/*_s* --gan "$OUT"/oracle_scratchgan/*_s* \
      --points "$OUT"/sweep_oracle_batch/*_s* "${REUSE[@]}" > /dev/null
  else
    echo "skipped the trade-off plot: run stages 2 and 3 first"
  fi
fi

echo "study written to $OUT"
