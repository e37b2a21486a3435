#!/usr/bin/env bash
# The seed's claim on Hopper-v4: BC → PPO with and without the DSR, 5 seeds, 300k online steps.
# Offline data: 100k transitions sampled from the medium behaviour policy that `o2o run` trained.
# Usage: BEHAVIOUR_ACTOR=o2o-root/data/behaviour/Hopper-v4_medium_behaviour_s1_actor.pt scripts/experiments/hopper-o2o-claim.sh
# (docs/results.md §5 was made with this script, run from /work/runs/o2o-exp with a copied build.)
# SUPPORT=gated (or joint, conditional, state): the DSR arm uses that support mode instead of the DSR's
# default, and its runs are named gated_s1, gated_d2_s1, … so arms with different modes share one folder; the
# naive runs (naive_gated_s1, …) learn exactly as plain naive ones and measure support in that mode.
set -eu
arm="${SUPPORT:-dsr}"; support=""; naive=naive
[ -n "${SUPPORT:-}" ] && support="--support $SUPPORT" && naive="naive_$SUPPORT"  # naive measures support in that mode too
O="${O2O:-$(cd "$(dirname "$0")/../.." && pwd)/o2o}"
B="$(realpath "${BEHAVIOUR_ACTOR:?set BEHAVIOUR_ACTOR to the medium behaviour actor, e.g. o2o-root/data/behaviour/Hopper-v4_medium_behaviour_s1_actor.pt (made by o2o run)}")"
mkdir -p "${EXP_DIR:-runs/o2o-exp}"/{data,checkpts,logs} && cd "${EXP_DIR:-runs/o2o-exp}"
[ -f data/hopper_medium_100k.hdf5 ] || $O data collect --env_id Hopper-v4 --policy $B --steps 100000 --seed 7 --out data/hopper_medium_100k.hdf5
[ -f data/hopper_medium_100k.npz ] || $O data convert --h5 data/hopper_medium_100k.hdf5 --out data/hopper_medium_100k.npz
$O data info data/hopper_medium_100k.hdf5 > data/info.txt
[ -f checkpts/hopper_medium_100k_dsr.pt ] || $O train_dsr --offline_path data/hopper_medium_100k.npz --env_id Hopper-v4 --dsr_out checkpts/hopper_medium_100k_dsr.pt --epochs 20 --batch_size 2048 --device cpu --threads 1 > logs-dsr.txt 2>&1
[ -f checkpts/hopper_medium_100k_bc_actor.pt ] || $O pretrain_bc --offline_path data/hopper_medium_100k.npz --env_id Hopper-v4 --out_actor checkpts/hopper_medium_100k_bc_actor.pt --device cpu --epochs 20 --batch_size 1024 --threads 1 > logs-bc.txt 2>&1
for seed in 1 2 3 4 5; do
  for variant in $naive $arm; do
    extra="$support"; [ $variant = $naive ] && extra="--no_dsr $support"
    [ -f logs/${variant}_s$seed.csv ] && [ -f logs/${variant}_s${seed}_actor.pt ] && continue
    $O train_online --env_id Hopper-v4 --dsr_path checkpts/hopper_medium_100k_dsr.pt --total_steps 300000 --steps_per_epoch 4096 \
      --minibatch_size 256 --train_iters 10 --device cpu --log_csv logs --init_actor checkpts/hopper_medium_100k_bc_actor.pt \
      --seed $seed --run_name ${variant}_s$seed $extra > logs-${variant}_s$seed.txt 2>&1
  done
done
# Other DSR seeds (the DSR arm only; naive does not depend on the DSR's weights): DSR_SEEDS="2 3"
for d in ${DSR_SEEDS:-}; do
  [ -f checkpts/hopper_medium_100k_dsr_d$d.pt ] || $O train_dsr --offline_path data/hopper_medium_100k.npz --env_id Hopper-v4 --dsr_out checkpts/hopper_medium_100k_dsr_d$d.pt --epochs 20 --batch_size 2048 --device cpu --threads 1 --seed $d > logs-dsr_d$d.txt 2>&1
  for seed in 1 2 3 4 5; do
    [ -f logs/${arm}_d${d}_s$seed.csv ] && [ -f logs/${arm}_d${d}_s${seed}_actor.pt ] && continue
    $O train_online --env_id Hopper-v4 --dsr_path checkpts/hopper_medium_100k_dsr_d$d.pt --total_steps 300000 --steps_per_epoch 4096 \
      --minibatch_size 256 --train_iters 10 --device cpu --log_csv logs --init_actor checkpts/hopper_medium_100k_bc_actor.pt \
      --seed $seed --run_name ${arm}_d${d}_s$seed $support > logs-${arm}_d${d}_s$seed.txt 2>&1
  done
done
touch done
