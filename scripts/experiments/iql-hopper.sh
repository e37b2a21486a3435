#!/usr/bin/env bash
# Offline IQL on a generated hopper-medium-v2 (1M transitions), 250k updates per seed, next to BC on the same data.
# Resumable: rerun after an interruption. Usage: EXP_DIR=runs/iql-hopper SEEDS="1 2 3" scripts/experiments/iql-hopper.sh
set -eu
O="${O2O:-$(cd "$(dirname "$0")/../.." && pwd)/o2o}"
mkdir -p "${EXP_DIR:-runs/iql-hopper}" && cd "${EXP_DIR:-runs/iql-hopper}"
[ -f hopper-medium-v2.hdf5 ] || $O data collect --env_id Hopper-v4 --quality medium --steps 1000000 --seed 1 \
  --out hopper-medium-v2.hdf5 > data.log 2>&1
for s in ${SEEDS:-1 2 3}; do
  [ -f bc_s${s}_actor.pt ] || $O pretrain-bc --offline_path hopper-medium-v2.hdf5 --env_id Hopper-v4 \
    --out_actor bc_s${s}_actor.pt --epochs 20 --batch_size 1024 --seed $s > bc_s$s.log 2>&1
done
for s in ${SEEDS:-1 2 3}; do
  [ -f iql_s${s}_agent.pt ] && continue
  resume=""; [ -d iql_s${s}_agent.ckpt ] && resume="--resume"
  $O train-offline --algo iql --offline_path hopper-medium-v2.hdf5 --env_id Hopper-v4 --steps 250000 --seed $s \
    --out iql_s${s}_agent.pt $resume > iql_s$s.log 2>&1 &
done
wait
grep "bc eval" bc_s*.log
$O compare --variant "iql=$(ls iql_s*_agent.csv | paste -sd, -)" --out compare.md
