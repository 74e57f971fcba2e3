#!/usr/bin/env bash
# End to end: prepare -> embed -> [views] -> tokenize -> train -> evaluate, for configs/DATASET.yaml.
#   bash scripts/run_train.sh DATASET DEVICE [--set key=value ...]
#   DEVICE: CPU | GPU | Ascend. GPU/Ascend read DEVICE_ID (or CUDA_VISIBLE_DEVICES) from the environment.
set -euo pipefail
if [ $# -lt 2 ]; then
  echo "usage: bash scripts/run_train.sh DATASET CPU|GPU|Ascend [--set key=value ...]" >&2
  exit 2
fi
DATASET=$1; DEVICE=$2; shift 2
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
CONFIG="$ROOT/configs/$DATASET.yaml"
[ -f "$CONFIG" ] || { echo "error: no config $CONFIG" >&2; exit 2; }
case "$DEVICE" in CPU|GPU|Ascend) ;; *) echo "error: DEVICE must be CPU, GPU or Ascend" >&2; exit 2;; esac
export HF_HUB_OFFLINE=${HF_HUB_OFFLINE:-1} TOKENIZERS_PARALLELISM=false GLOG_v=${GLOG_v:-3}
cd "$ROOT"
PY=${PYTHON:-python}
run() { echo "== $1" >&2; $PY -m cost_ms "$@" --device "$DEVICE" "${EXTRA[@]}"; }
EXTRA=("$@")
run prepare "$CONFIG" -q
run embed "$CONFIG" -q      # skipped when up-to-date embeddings exist
run views "$CONFIG" -q --if-needed   # SimCIT's cf/attr views; nothing for the other tokenizers
run tokenize "$CONFIG" -q
run train "$CONFIG" -q
