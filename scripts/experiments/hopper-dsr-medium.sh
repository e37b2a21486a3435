#!/usr/bin/env bash
# The DSR on a medium-like Hopper dataset (docs/results.md §4): both kinds (and the flow with --hidden 128,
# the default until 2026-11-25), every mode, the notebook's 20 epochs, 3 seeds, next to the prototype's figures. Makes the data first when it is missing (the commands of
# §4 "Data": a 200k-step PPO actor, sampled → hopper_stoch, random policy → hopper_rand), then prints a
# Markdown table of mean (min–max) over the seeds.
# Usage: scripts/experiments/hopper-dsr-medium.sh            (DATA=/tmp/dsr OUT=runs/dsr20 by default)
# Another dataset: MEDIUM=runs/o2o-root/data/hopper-medium-v2.hdf5 NAME=hopper_medium SEEDS=1 KINDS="flow energy" …
# (runs/dsr20's flow128 files were made before the default changed, without --hidden; same model.)
# Rows of a mode a run's JSON lacks (gated, added 2026-11-25) are left out.
set -eu
O="${O2O:-$(cd "$(dirname "$0")/../.." && pwd)/o2o}"
DATA="${DATA:-/tmp/dsr}"; OUT="${OUT:-runs/dsr20}"
MEDIUM="${MEDIUM:-$DATA/hopper_stoch.hdf5}"; NAME="${NAME:-hopper_stoch}"; SEEDS="${SEEDS:-1 2 3}"; KINDS="${KINDS:-flow flow128 energy}"
mkdir -p "$DATA" "$OUT"
if [ ! -f "$MEDIUM" ] || [ ! -f "$DATA/hopper_rand.hdf5" ]; then
  $O train-online --env_id Hopper-v4 --total_steps 200000 --log_csv "$DATA/ppo" --eval_every 40960 --eval_episodes 5
  $O data collect --env_id Hopper-v4 --policy "$DATA/ppo/Hopper-v4_ppo_s1_actor.pt" --steps 100000 --out "$DATA/hopper_stoch.hdf5"
  $O data collect --env_id Hopper-v4 --policy random --steps 100000 --out "$DATA/hopper_rand.hdf5"
fi
for seed in $SEEDS; do
  for kind in $KINDS; do  # flow = the default flow (hidden 64); flow128 = --hidden 128
    out="$OUT/${NAME}_${kind}_s${seed}_dsr.pt"
    [ -f "$out" ] && continue
    size=""; [ $kind = flow128 ] && size="--hidden 128"
    $O train_dsr --offline_path "$MEDIUM" --env_id Hopper-v4 --dsr_out "$out" --epochs 20 --batch_size 2048 \
      --device cpu --kind ${kind%128} $size --seed $seed --ood_path "$DATA/hopper_rand.hdf5" --threads 1 > "$OUT/${NAME}_${kind}_s${seed}.log" 2>&1
  done
done
python3 - "$OUT" "$NAME" <<'EOF'
import json, sys, glob, statistics
out, name = sys.argv[1], sys.argv[2]
def cell(xs, fmt="{:.3f}"):
    return fmt.format(statistics.mean(xs)) + (" (" + fmt.format(min(xs)) + "–" + fmt.format(max(xs)) + ")" if len(xs) > 1 else "")
def rows():
    """(kind, mode, runs) for each kind with runs and each mode all its runs report (gated was added 2026-11-25)."""
    for kind in ("flow", "flow128", "energy"):
        runs = [json.load(open(p)) for p in sorted(glob.glob(f"{out}/{name}_{kind}_s*_dsr.json"))]
        for mode in ("joint", "conditional", "state", "gated") if runs else ():
            if all(any(m["Mode"] == mode for m in r["Modes"]) for r in runs):
                yield kind, mode, runs
print("| kind | mode | AUROC uniform | AUROC noise 0.3 | AUROC random data | held-out ll (joint / state) | seeds |")
print("|---|---|---|---|---|---|---|")
print("| prototype (method.md, medium data) | joint | 0.72 | 0.55 | 0.98 (states) | – | – |")
for kind, mode, runs in rows():
    ms = [next(m for m in r["Modes"] if m["Mode"] == mode) for r in runs]
    ll = "–"
    if kind.startswith("flow") and mode == "joint":
        ll = cell([r["HeldOutLogLikJoint"] for r in runs], "{:.2f}") + " / " + cell([r["HeldOutLogLikState"] for r in runs], "{:.2f}")
    label = {"flow": "flow (default, hidden 64)", "flow128": "flow --hidden 128", "energy": "energy (hidden 128)"}[kind]
    print(f"| {label} | {mode} | {cell([m['AurocUniformActions'] for m in ms])} | {cell([m['AurocNoisyActions'] for m in ms])} | "
          f"{cell([m['AurocOod'] for m in ms])} | {ll} | {len(runs)} |")
print()
print("Support curves, logp score, mean sigma of held-out pairs averaged over the seeds:")
print()
print("| kind | mode | actions s = 0 / 0.05 / 0.1 / 0.2 / 0.5 / 1 | states s = 0 / 0.05 / 0.1 / 0.2 / 0.5 / 1 / 2 / 4 |")
print("|---|---|---|---|")
for kind, mode, runs in rows():
    cs = [next(c for c in r["Curves"] if c["Mode"] == mode and c["Score"] == "logp") for r in runs]
    act = [statistics.mean(c["ActionMeanSigma"][i] for c in cs) for i in range(len(cs[0]["ActionMeanSigma"]))]
    st = [statistics.mean(c["StateMeanSigma"][i] for c in cs) for i in range(len(cs[0]["StateMeanSigma"]))]
    print(f"| {kind} | {mode} | {' / '.join(f'{v:.2f}' for v in act)} | {' / '.join(f'{v:.2f}' for v in st)} |")
EOF
