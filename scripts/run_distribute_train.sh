#!/usr/bin/env bash
# Data-parallel end to end with MindSpore's launcher (msrun):
#   bash scripts/run_distribute_train.sh DATASET DEVICE WORKERS [--set key=value ...]
# prepare, embed (and views, for SimCIT) run once; tokenize and train run on WORKERS workers (batch_size is per worker, so the
# global batch is WORKERS x batch_size); rank 0 writes every output, evaluates and prints the table.
#
# Several machines: run the same command on every node with
#   MASTER_ADDR=<node 0's address> MASTER_PORT=8118 NODE_RANK=<0..> LOCAL_WORKERS=<workers on this node>
# Worker logs: $LOG_DIR (default runs/msrun_logs/<stage>).
set -euo pipefail
if [ $# -lt 3 ]; then
  echo "usage: bash scripts/run_distribute_train.sh DATASET CPU|GPU|Ascend WORKERS [--set key=value ...]" >&2
  exit 2
fi
DATASET=$1; DEVICE=$2; WORKERS=$3; shift 3
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
CONFIG="$ROOT/configs/$DATASET.yaml"
[ -f "$CONFIG" ] || { echo "error: no config $CONFIG" >&2; exit 2; }
case "$DEVICE" in CPU|GPU|Ascend) ;; *) echo "error: DEVICE must be CPU, GPU or Ascend" >&2; exit 2;; esac
[[ "$WORKERS" =~ ^[1-9][0-9]*$ ]] || { echo "error: WORKERS must be a positive integer" >&2; exit 2; }
command -v msrun >/dev/null || { echo "error: msrun (MindSpore's launcher) not found; install mindspore" >&2; exit 2; }
export HF_HUB_OFFLINE=${HF_HUB_OFFLINE:-1} TOKENIZERS_PARALLELISM=false GLOG_v=${GLOG_v:-3}
cd "$ROOT"
PY=${PYTHON:-python}
EXTRA=("$@")
echo "== prepare / embed / views (one process)" >&2
$PY -m cost_ms prepare "$CONFIG" --device "$DEVICE" -q "${EXTRA[@]}"
$PY -m cost_ms embed "$CONFIG" --device "$DEVICE" -q "${EXTRA[@]}"
$PY -m cost_ms views "$CONFIG" --device "$DEVICE" -q --if-needed "${EXTRA[@]}"
for STAGE in tokenize train; do
  echo "== $STAGE ($WORKERS workers, msrun)" >&2
  LOGS=${LOG_DIR:-runs/msrun_logs}/$STAGE
  msrun --worker_num "$WORKERS" --local_worker_num "${LOCAL_WORKERS:-$WORKERS}" \
        --master_addr "${MASTER_ADDR:-127.0.0.1}" --master_port "${MASTER_PORT:-8118}" \
        --node_rank "${NODE_RANK:-0}" --log_dir "$LOGS" --join True \
        scripts/worker.py "$STAGE" "$CONFIG" --device "$DEVICE" -q --set run.data_parallel=true "${EXTRA[@]}" \
    || { echo "error: $STAGE failed under msrun; worker logs in $LOGS" >&2; exit 1; }
done   # msrun echoes rank 0's output: the tokenizer report and the final table
