#!/usr/bin/env bash
# The DSR on a medium-like Hopper dataset (docs/results.md §4): both kinds, every mode, the notebook's 20
# epochs, 3 seeds, next to the prototype's figures. Makes the data first when it is missing (the commands of
# §4 "Data": a 200k-step PPO actor, sampled → hopper_stoch, random policy → hopper_rand), then prints a
# Markdown table of mean (min–max) over the seeds.
# Usage: scripts/experiments/hopper-dsr-medium.sh            (DATA=/tmp/dsr OUT=runs/dsr20 by default)
set -eu
O="${O2O:-$(cd "$(dirname "$0")/../.." && pwd)/o2o}"
DATA="${DATA:-/tmp/dsr}"; OUT="${OUT:-runs/dsr20}"
mkdir -p "$DATA" "$OUT"
if [ ! -f "$DATA/hopper_stoch.hdf5" ] || [ ! -f "$DATA/hopper_rand.hdf5" ]; then
  $O train-online --env_id Hopper-v4 --total_steps 200000 --log_csv "$DATA/ppo" --eval_every 40960 --eval_episodes 5
  $O data collect --env_id Hopper-v4 --policy "$DATA/ppo/Hopper-v4_ppo_s1_actor.pt" --steps 100000 --out "$DATA/hopper_stoch.hdf5"
  $O data collect --env_id Hopper-v4 --policy random --steps 100000 --out "$DATA/hopper_rand.hdf5"
fi
for seed in 1 2 3; do
  for kind in flow energy; do
    out="$OUT/hopper_stoch_${kind}_s${seed}_dsr.pt"
    [ -f "$out" ] && continue
    $O train_dsr --offline_path "$DATA/hopper_stoch.hdf5" --env_id Hopper-v4 --dsr_out "$out" --epochs 20 --batch_size 2048 \
      --device cpu --kind $kind --seed $seed --ood_path "$DATA/hopper_rand.hdf5" --threads 1 > "$OUT/${kind}_s${seed}.log" 2>&1
  done
done
python3 - "$OUT" <<'EOF'
import json, sys, glob, statistics
out = sys.argv[1]
def cell(xs, fmt="{:.3f}"):
    return fmt.format(statistics.mean(xs)) + (" (" + fmt.format(min(xs)) + "–" + fmt.format(max(xs)) + ")" if len(xs) > 1 else "")
print("| kind | mode | AUROC uniform | AUROC noise 0.3 | AUROC random data | held-out ll (joint / state) | seeds |")
print("|---|---|---|---|---|---|---|")
print("| prototype (method.md, medium data) | joint | 0.72 | 0.55 | 0.98 (states) | – | – |")
for kind in ("flow", "energy"):
    runs = [json.load(open(p)) for p in sorted(glob.glob(f"{out}/hopper_stoch_{kind}_s*_dsr.json"))]
    if not runs: continue
    for mode in ("joint", "conditional", "state"):
        ms = [next(m for m in r["Modes"] if m["Mode"] == mode) for r in runs]
        ll = "–"
        if kind == "flow" and mode == "joint":
            ll = cell([r["HeldOutLogLikJoint"] for r in runs], "{:.2f}") + " / " + cell([r["HeldOutLogLikState"] for r in runs], "{:.2f}")
        print(f"| {kind} | {mode} | {cell([m['AurocUniformActions'] for m in ms])} | {cell([m['AurocNoisyActions'] for m in ms])} | "
              f"{cell([m['AurocOod'] for m in ms])} | {ll} | {len(runs)} |")
EOF
