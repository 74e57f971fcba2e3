#!/usr/bin/env bash
# Evaluate a finished run: bash scripts/run_eval.sh DATASET DEVICE [--set key=value ...]
#   history items are never recommended (eval.exclude_history: true); the raw protocol, where they may be:
#   bash scripts/run_eval.sh DATASET DEVICE --set eval.exclude_history=false   (writes metrics-raw.json too)
set -euo pipefail
[ $# -ge 2 ] || { echo "usage: bash scripts/run_eval.sh DATASET CPU|GPU|Ascend [--set key=value ...]" >&2; exit 2; }
DATASET=$1; DEVICE=$2; shift 2
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
export GLOG_v=${GLOG_v:-3}
${PYTHON:-python} -m cost_ms evaluate "configs/$DATASET.yaml" --device "$DEVICE" -q "$@"
