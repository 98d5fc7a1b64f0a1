#!/usr/bin/env bash
# Rebuilds the tables and plots of RESULTS.md section 7 from the committed
# metrics.jsonl files (run from the repository root).
set -euo pipefail
PY=${PYTHON:-python}
B=results/beyond_paper
$PY scripts/candidates_report.py --out=$B/oracle --title="Oracle: generator-update options, 1,000 steps (PPO: 600, about equal time)" \
  "default=results/oracle_default/fast_sampler_s*_metrics.jsonl" \
  "baseline_type=position=$B/oracle/position_s*_metrics.jsonl" \
  "baseline_type=loo=$B/oracle/loo_s*_metrics.jsonl" \
  "baseline_type=prefix=$B/oracle/prefix_s*_metrics.jsonl" \
  "entropy_bonus=0.01=$B/oracle/entropy0.01_s*_metrics.jsonl" \
  "normalize_advantages=$B/oracle/norm_s*_metrics.jsonl" \
  "gen_updates_per_batch=2=$B/oracle/ppo2_s*_metrics.jsonl" \
  "gen_lr=2e-3,gen_beta1=0.9=$B/oracle/gen_lr2e-3_beta0.9_s*_metrics.jsonl" \
  "reward_candidates=64=$B/oracle/cand64_s*_metrics.jsonl" \
  "reward_candidates=256=$B/oracle/cand256_s*_metrics.jsonl" \
  "disc_feature_size=64=$B/oracle/disc_width64_s*_metrics.jsonl" \
  "disc_feature_size=128=$B/oracle/disc_width128_s*_metrics.jsonl" > /dev/null
# The diagnostic: the learned discriminator's rewards replaced by the oracle's exact density.
$PY scripts/candidates_report.py --out=$B/oracle --name=perfect_reward \
  --title="Oracle: the generator rewarded by the oracle's exact density instead of the discriminator (a diagnostic), 1,000 steps" \
  "default=results/oracle_default/fast_sampler_s*_metrics.jsonl" \
  "default, on the AMD EPYC of these runs=$B/oracle/amd_default_s*_metrics.jsonl" \
  "MLE (experiments/oracle_mle.cfg), on the AMD EPYC=$B/oracle/amd_mle_s*_metrics.jsonl" \
  "reward_source=oracle_token_disc=$B/oracle/oracle_token_disc_s*_metrics.jsonl" \
  "reward_source=oracle_log_ratio=$B/oracle/oracle_log_ratio_s*_metrics.jsonl" \
  "reward_source=oracle_log_ratio,gen_lr=2e-3,gen_beta1=0.9=$B/oracle/oracle_log_ratio_glr2e-3_s*_metrics.jsonl" \
  "reward_source=oracle_log_ratio,gamma=1=$B/oracle/oracle_log_ratio_gamma1_s*_metrics.jsonl" \
  "gen_lr=2e-3,gen_beta1=0.9 (the discriminator's rewards)=$B/oracle/gen_lr2e-3_beta0.9_s*_metrics.jsonl" > /dev/null
# Each generator's KL to the oracle (scripts/reverse_kl_probe.py on the runs' last checkpoints).
$PY scripts/reverse_kl_probe.py --table=$B/oracle/reverse_kl_probe.jsonl > $B/oracle/reverse_kl.md
# The learning-rate decay against default runs of the same seeds on the same machine (the
# two share every bit up to the decay's start, step 500), one row per seed.
$PY scripts/candidates_report.py --out=$B/oracle --name=lr_decay --per_seed --digits=3 \
  --title="Oracle: the generator's learning rate decayed (cosine, from step 500 to 0.1x), paired with the default on one machine" \
  "default, this machine=results/oracle_default/intel_xeon_s0_metrics.jsonl,$B/oracle/xeon_default_s*_metrics.jsonl" \
  "gen_lr_decay=cosine,gen_lr_final=0.1=$B/oracle/lr_cosine0.1_s*_metrics.jsonl" > /dev/null
$PY scripts/candidates_report.py --out=$B/emnlp2017 --metric=fed --second=valid_nll \
  --title="EMNLP2017 subset: FED[use] on 1,000 samples during training" \
  "default=results/emnlp2017/scratchgan*_train_metrics.jsonl" \
  "disc_lr=3e-3=$B/emnlp2017/disc_lr3e-3_s*_metrics.jsonl" \
  "normalize_advantages=$B/emnlp2017/norm_s*_metrics.jsonl" \
  "gen_updates_per_batch=2=$B/emnlp2017/ppo2_s*_metrics.jsonl" \
  "disc_skip_margin=0.7=$B/emnlp2017/skip_margin0.7_s*_metrics.jsonl" \
  "gen_lr=1e-3,gen_beta1=0.9=$B/emnlp2017/gen_lr1e-3_beta0.9_s*_metrics.jsonl" \
  "baseline_type=prefix=$B/emnlp2017/prefix_s*_metrics.jsonl" \
  "baseline_type=prefix, 2,400 steps=$B/emnlp2017/prefix2400_s*_metrics.jsonl" \
  "baseline_type=prefix, 4,800 steps=$B/emnlp2017/prefix4800_s*_metrics.jsonl" \
  "baseline_type=prefix, 4,800 steps, on the AMD EPYC=$B/emnlp2017/amd4800_s*_metrics.jsonl" \
  "baseline_type=prefix, 7,200 steps=$B/emnlp2017/prefix7200_s*_metrics.jsonl" \
  "baseline_type=prefix, 4,800 steps, gen_lr_decay=cosine,gen_lr_final=0.1=$B/emnlp2017/lr_cosine0.1_4800_s*_metrics.jsonl" \
  "baseline_type=prefix,gen_lr=6e-4=$B/emnlp2017/prefix_glr6e-4_s*_metrics.jsonl" \
  "baseline_type=prefix,gen_lr=6e-4, 2,400 steps=$B/emnlp2017/prefix2400_glr6e-4_s*_metrics.jsonl" \
  "baseline_type=prefix,reward_type=log (stopped at 700)=$B/emnlp2017/log_reward_s*_stopped_metrics.jsonl" \
  "baseline_type=prefix,batch_size=256 (stopped at 1,034)=$B/emnlp2017/batch256_s*_stopped_metrics.jsonl" \
  "baseline_type=prefix,batch_size=64, 2,400 steps=$B/emnlp2017/batch64_2400_s*_metrics.jsonl" \
  "baseline_type=prefix,batch_size=64, 9,600 steps=$B/emnlp2017/batch64_9600_s*_metrics.jsonl" \
  "baseline_type=prefix, 4,800 steps, early_batch_size=64 to step 2,400 (AMD EPYC)=$B/emnlp2017/ramp64_2400_s*_metrics.jsonl" \
  "baseline_type=prefix,gen_ema=0.995 (FED of the average)=$B/emnlp2017/ema995_s*_metrics.jsonl" \
  "baseline_type=prefix, 4,800 steps, gen_ema=0.998 from step 2,400 (FED of the average from 2,600)=$B/emnlp2017/ema998_4800_s*_metrics.jsonl" \
  "baseline_type=prefix,disc_dropout=0.1=$B/emnlp2017/disc_dropout0.1_s*_metrics.jsonl" \
  "baseline_type=prefix,disc_dropout=0.75=$B/emnlp2017/disc_dropout0.75_s*_metrics.jsonl" \
  "baseline_type=prefix,disc_feature_size=256=$B/emnlp2017/disc_width256_s*_metrics.jsonl" \
  "baseline_type=prefix,gamma=0.5=$B/emnlp2017/gamma0.5_s*_metrics.jsonl" \
  "baseline_type=prefix,ppmi_embedding_size=64, both parts at GloVe's scale (stopped at 900)=$B/emnlp2017/ppmi64_glove_scale_s*_stopped_metrics.jsonl" \
  "baseline_type=prefix,ppmi_embedding_size=64, 2,400 steps=$B/emnlp2017/ppmi64_2400_s*_metrics.jsonl" \
  "baseline_type=prefix,mle_weight=0.1 (not from scratch)=$B/emnlp2017/mle0.1_s*_metrics.jsonl" \
  "baseline_type=prefix,reward_candidates=16=$B/emnlp2017/cand16_1200_s*_metrics.jsonl" \
  "MLE alone at the GAN's optimiser (objective=mle,gen_lr=3e-4,gen_beta1=0.5), 2,400 steps=$B/emnlp2017/mle_ganopt_2400_s*_metrics.jsonl" > /dev/null
$PY scripts/seeds_report.py --out=$B/emnlp2017/prefix_eval.md \
  --title="EMNLP2017 subset at T = 1, 10,000 samples, best checkpoint by FED: the paper's baseline against the prefix baseline" \
  "default (scalar baseline)=results/emnlp2017/gan_metrics.json,results/emnlp2017/gan_seed1_metrics.json,results/emnlp2017/gan_seed2_metrics.json" \
  "prefix baseline=$(ls $B/emnlp2017/prefix_s*_eval_metrics.json | paste -sd, -)" \
  "prefix baseline, 2,400 steps=$(ls $B/emnlp2017/prefix2400_s*_eval_metrics.json | paste -sd, -)" \
  "prefix baseline, 4,800 steps=$(ls $B/emnlp2017/prefix4800_s*_eval_metrics.json | paste -sd, -)" \
  "prefix baseline, 4,800 steps, on the AMD EPYC=$(ls $B/emnlp2017/amd4800_s*_eval_metrics.json | paste -sd, -)" \
  "prefix baseline, 7,200 steps=$(ls $B/emnlp2017/prefix7200_s*_eval_metrics.json | paste -sd, -)" \
  "prefix baseline, 4,800 steps, generator lr cosine-decayed to 0.1x from step 2,400=$(ls $B/emnlp2017/lr_cosine0.1_4800_s*_eval_metrics.json | paste -sd, -)" \
  "prefix baseline, gen_lr 6e-4=$(ls $B/emnlp2017/prefix_glr6e-4_s*_eval_metrics.json | paste -sd, -)" \
  "prefix baseline, gen_lr 6e-4, 2,400 steps=$(ls $B/emnlp2017/prefix2400_glr6e-4_s*_eval_metrics.json | paste -sd, -)" \
  "prefix baseline, batch 256, stopped at 1,034 steps=$(ls $B/emnlp2017/batch256_s*_stopped_eval_metrics.json | paste -sd, -)" \
  "prefix baseline, batch 64, 2,400 steps=$(ls $B/emnlp2017/batch64_2400_s*_eval_metrics.json | paste -sd, -)" \
  "prefix baseline, batch 64, 9,600 steps=$(ls $B/emnlp2017/batch64_9600_s*_eval_metrics.json | paste -sd, -)" \
  "prefix baseline, 4,800 steps, batch 64 to step 2,400, then 128 (AMD EPYC)=$(ls $B/emnlp2017/ramp64_2400_s*_eval_metrics.json | paste -sd, -)" \
  "prefix baseline, gen_ema 0.995 (the average)=$(ls $B/emnlp2017/ema995_s*_eval_metrics.json | paste -sd, -)" \
  "prefix baseline, 4,800 steps, gen_ema 0.998 from step 2,400 (the average)=$(ls $B/emnlp2017/ema998_4800_s*_eval_metrics.json | paste -sd, -)" \
  "prefix baseline, disc_dropout 0.1=$(ls $B/emnlp2017/disc_dropout0.1_s*_eval_metrics.json | paste -sd, -)" \
  "prefix baseline, disc_dropout 0.75=$(ls $B/emnlp2017/disc_dropout0.75_s*_eval_metrics.json | paste -sd, -)" \
  "prefix baseline, discriminator width 256=$(ls $B/emnlp2017/disc_width256_s*_eval_metrics.json | paste -sd, -)" \
  "prefix baseline, gamma 0.5=$(ls $B/emnlp2017/gamma0.5_s*_eval_metrics.json | paste -sd, -)" \
  "prefix baseline, PPMI embedding part 64, best checkpoint up to step 1,200=$(ls $B/emnlp2017/ppmi64_1200_s*_eval_metrics.json | paste -sd, -)" \
  "prefix baseline, PPMI embedding part 64, 2,400 steps=$(ls $B/emnlp2017/ppmi64_2400_s*_eval_metrics.json | paste -sd, -)" \
  "prefix baseline, the immediate reward summed over the generator's 16 most likely tokens=$(ls $B/emnlp2017/cand16_1200_s*_eval_metrics.json | paste -sd, -)" \
  "prefix baseline + 0.1 x the real batch's NLL (not from scratch)=$(ls $B/emnlp2017/mle0.1_s*_eval_metrics.json | paste -sd, -)" \
  "MLE alone at the GAN's optimiser (lr 3e-4, beta1 0.5), its step-1,800 checkpoint=$(ls $B/emnlp2017/mle_ganopt_step1800_s*_eval_metrics.json | paste -sd, -)" \
  "MLE alone at the GAN's optimiser (lr 3e-4, beta1 0.5), 2,400 steps=$(ls $B/emnlp2017/mle_ganopt_2400_s*_eval_metrics.json | paste -sd, -)" \
  "MLE=results/emnlp2017/mle_metrics.json,results/emnlp2017/mle_seed1_metrics.json,results/emnlp2017/mle_seed2_metrics.json" > /dev/null
$PY scripts/candidates_report.py --out=$B/coco --metric=fed --second=valid_nll \
  --title="COCO captions: FED[use] on 1,000 samples during training" \
  "default=results/coco/scratchgan*_train_metrics.jsonl" \
  "baseline_type=prefix=$B/coco/prefix_s*_metrics.jsonl" \
  "default, 2,400 steps=$B/coco/steps2400_s*_metrics.jsonl" \
  "default, 4,800 steps=$B/coco/steps4800_s*_metrics.jsonl" > /dev/null
$PY scripts/seeds_report.py --out=$B/coco/prefix_eval.md \
  --title="COCO captions at T = 1, 10,000 samples, best checkpoint by FED: the paper's baseline against the prefix baseline" \
  "default (scalar baseline)=results/coco/gan_metrics.json,results/coco/gan_seed1_metrics.json,results/coco/gan_seed2_metrics.json" \
  "prefix baseline=$(ls $B/coco/prefix_s*_eval_metrics.json | paste -sd, -)" \
  "default, 2,400 steps=$(ls $B/coco/steps2400_s*_eval_metrics.json | paste -sd, -)" \
  "default, 4,800 steps=$(ls $B/coco/steps4800_s*_eval_metrics.json | paste -sd, -)" \
  "MLE=results/coco/mle_metrics.json,results/coco/mle_seed1_metrics.json,results/coco/mle_seed2_metrics.json" > /dev/null
$PY scripts/average_probe.py --table=$B/emnlp2017/average_probe.md \
  --out=$B/emnlp2017/average_probe_2400.jsonl,$B/emnlp2017/average_probe_4800.jsonl,$B/emnlp2017/average_probe_7200.jsonl,$B/emnlp2017/average_probe_b64_9600.jsonl > /dev/null
$PY scripts/average_probe.py --table=$B/emnlp2017/average_probe_windows.md \
  --out=$B/emnlp2017/average_probe_amd4800_windows.jsonl > /dev/null
$PY scripts/average_probe.py --table=$B/coco/average_probe.md \
  --out=$B/coco/average_probe_2400.jsonl,$B/coco/average_probe_4800.jsonl > /dev/null
$PY scripts/sweep_table.py --out=$B/coco/sweeps.md \
  --title="COCO captions: temperature sweeps of the best checkpoint (10,000 samples per point; BLEU-5 against the test captions, Self-BLEU-5 among the samples, FED[use])" \
  "ScratchGAN flagfile, 1,200 steps=results/coco/sweep.csv:coco_scratchgan" \
  "ScratchGAN flagfile, 2,400 steps (the step-2,400 checkpoint, not the best)=$B/coco/steps2400_s0_step2400_sweep.csv" \
  "ScratchGAN flagfile, 4,800 steps=$(ls $B/coco/steps4800_s*_sweep.csv | paste -sd, -)" \
  "MLE flagfile=results/coco/sweep.csv:coco_mle" > /dev/null
$PY scripts/fed_selection_check.py --out=$B/fed_selection.md \
  --probe=$B/emnlp2017/average_probe_2400.jsonl,$B/emnlp2017/average_probe_4800.jsonl,$B/emnlp2017/average_probe_7200.jsonl,$B/emnlp2017/average_probe_lr_cosine.jsonl,$B/coco/average_probe_2400.jsonl,$B/coco/average_probe_4800.jsonl \
  $(for s in 0 1 2; do echo em_prefix2400_s$s=$B/emnlp2017/prefix2400_s${s}_metrics.jsonl; done) \
  $(for s in 0 1 2; do echo em_prefix4800_s$s=$B/emnlp2017/prefix4800_s${s}_metrics.jsonl; done) \
  $(for s in 0 1 2; do echo em_prefix7200_s$s=$B/emnlp2017/prefix7200_s${s}_metrics.jsonl; done) \
  em_cos_s0=$B/emnlp2017/lr_cosine0.1_4800_s0_metrics.jsonl \
  coco2400_s0=$B/coco/steps2400_s0_metrics.jsonl coco4800_s0=$B/coco/steps4800_s0_metrics.jsonl > /dev/null
$PY scripts/sweep_table.py --out=$B/emnlp2017/tsweep.md \
  --title="EMNLP2017 subset: FED[use] against temperature of the best checkpoint (10,000 samples per point, the same sample seed at every T)" \
  "prefix baseline, 7,200 steps=$(ls $B/emnlp2017/prefix7200_s*_tsweep.csv | paste -sd, -)" \
  "MLE flagfile, seed 0=results/emnlp2017/sweep.csv:emnlp2017_small_mle/_bf21a9_s0" > /dev/null
