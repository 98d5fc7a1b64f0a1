#!/usr/bin/env bash
# Downloads the public ScratchGAN EMNLP2017 News files (train/valid/test JSON
# and the GloVe subset) into DIR (default: data/emnlp2017). Needs internet.
# Each file is downloaded to a temporary name and moved into place when
# complete, so an interrupted download never leaves a truncated file.
set -euo pipefail
DIR=${1:-data/emnlp2017}
BASE=https://storage.googleapis.com/deepmind-scratchgan-data
mkdir -p "$DIR"
for f in train.json valid.json test.json glove_emnlp2017.txt; do
  if [ -s "$DIR/$f" ]; then echo "have $DIR/$f"; continue; fi
  echo "downloading $f"
  curl -fL --retry 3 -o "$DIR/.$f.part" "$BASE/$f"
  mv "$DIR/.$f.part" "$DIR/$f"
done
echo "Train with: python launch.py --flagfile=experiments/emnlp2017_scratchgan.cfg --data_dir=$DIR --embedding_path=$DIR/glove_emnlp2017.txt"
