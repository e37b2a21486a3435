#!/usr/bin/env bash
# Superseded by experiments/dip-hopper.yaml (o2o sweep), which runs the same commands; kept because docs/results.md
# §9 cites its first single-seed numbers.
# The dip, measured (issue 13): on the generated hopper-medium-v2 (1M, from scripts/experiments/iql-hopper.sh),
# per seed one offline agent per algorithm (250k updates) shared by the arms that start from it, then 100k online
# steps per arm: IQL keep, IQL drop, CQL -> SAC with the term removed and drop, and the same with the DSR.
# Resumable: rerun after an interruption; finished runs are skipped, killed ones continue from their checkpoint.
# Usage: EXP_DIR=../runs/dip-hopper DATA_DIR=../runs/iql-hopper scripts/experiments/dip-hopper.sh LANE
#   LANE cql   : CQL offline agents, seeds in turn (the long part: ~7 h a seed on one core)
#   LANE iql   : IQL keep/drop arms (needs DATA_DIR/iql_s*_agent.pt), then the DSRs
#   LANE sac   : CQL -> SAC arms without and with the DSR (needs the CQL agents and the DSRs)
set -eu
O="${O2O:-$(cd "$(dirname "$0")/../.." && pwd)/o2o}"
DATA_DIR=$(cd "${DATA_DIR:-runs/iql-hopper}" && pwd)
DATA=$DATA_DIR/hopper-medium-v2.hdf5
mkdir -p "${EXP_DIR:-runs/dip-hopper}" && cd "${EXP_DIR:-runs/dip-hopper}"
SEEDS="${SEEDS:-1 2 3}"
ONLINE="--env_id Hopper-v4 --total_steps 100000 --steps_per_epoch 2500 --log_csv . --torch_threads 1"

# run NAME DONE_FILE CKPT COMMAND...: skip when DONE_FILE exists, add --resume when the checkpoint does.
run() {
  local name=$1 done=$2 ckpt=$3; shift 3
  [ -f "$done" ] && return 0
  local resume=""; [ -n "$(ls -A "$ckpt" 2>/dev/null)" ] && resume="--resume"   # a checkpoint with a file in it
  echo "$(date -u +%FT%TZ) start $name $resume" >> lanes.log
  "$@" $resume >> "$name.log" 2>&1
  echo "$(date -u +%FT%TZ) done $name" >> lanes.log
}

case "${1:?give a lane: cql, iql or sac}" in
  cql)
    for s in $SEEDS; do
      run cql_s$s cql_s${s}_agent.pt cql_s${s}_agent.ckpt $O train-offline --algo cql --offline_path "$DATA" \
        --env_id Hopper-v4 --steps 250000 --seed $s --torch_threads 1 --out cql_s${s}_agent.pt
    done ;;
  iql)
    for s in $SEEDS; do
      agent=$DATA_DIR/iql_s${s}_agent.pt
      run iql_keep_s$s Hopper-v4_iql_keep_s${s}_agent.pt Hopper-v4_iql_keep_s$s.ckpt $O train-online --algo iql \
        --init_agent "$agent" --offline_data keep --offline_path "$DATA" --seed $s $ONLINE
      run iql_drop_s$s Hopper-v4_iql_drop_s${s}_agent.pt Hopper-v4_iql_drop_s$s.ckpt $O train-online --algo iql \
        --init_agent "$agent" --offline_data drop --seed $s $ONLINE
    done
    for s in $SEEDS; do
      [ -f dsr_s$s.pt ] || $O train-dsr --offline_path "$DATA" --env_id Hopper-v4 --seed $s --threads 1 \
        --dsr_out dsr_s$s.pt >> dsr_s$s.log 2>&1
    done ;;
  sac)
    for s in $SEEDS; do
      run sac_drop_s$s Hopper-v4_sac_plain_drop_s${s}_agent.pt Hopper-v4_sac_plain_drop_s$s.ckpt $O train-online \
        --algo sac --init_agent cql_s${s}_agent.pt --offline_data drop --seed $s $ONLINE
      run sac_drop_dsr_s$s dsr_arm/Hopper-v4_sac_plain_drop_s${s}_agent.pt dsr_arm/Hopper-v4_sac_plain_drop_s$s.ckpt \
        $O train-online --algo sac --init_agent cql_s${s}_agent.pt --offline_data drop --dsr_path dsr_s$s.pt \
        --seed $s --env_id Hopper-v4 --total_steps 100000 --steps_per_epoch 2500 --log_csv dsr_arm --torch_threads 1
    done ;;
  *) echo "unknown lane '$1': cql, iql or sac" >&2; exit 2 ;;
esac
