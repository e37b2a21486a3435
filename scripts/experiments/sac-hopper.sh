#!/usr/bin/env bash
# SAC from scratch on Hopper-v4: 3 seeds × 300k env steps with train-online --algo sac's defaults (CleanRL's),
# then the per-seed table (eval return at 300k, mean of the last 10 evaluations) and o2o compare's curves.
# Resumable: rerun after an interruption and every unfinished seed continues from its checkpoint.
# Usage: scripts/experiments/sac-hopper.sh   (EXP_DIR, default runs/sac-hopper; SEEDS, default "1 2 3")
set -eu
O="${O2O:-$(cd "$(dirname "$0")/../.." && pwd)/o2o}"
mkdir -p "${EXP_DIR:-runs/sac-hopper}" && cd "${EXP_DIR:-runs/sac-hopper}"
for seed in ${SEEDS:-1 2 3}; do
  csv=Hopper-v4_sac_s$seed.csv
  [ -f Hopper-v4_sac_s${seed}_actor.pt ] && continue
  resume=""; [ -d Hopper-v4_sac_s$seed.ckpt ] && [ -f $csv ] && resume="--resume"
  $O train-online --algo sac --env_id Hopper-v4 --total_steps 300000 --seed $seed --log_csv . $resume \
    >> seed$seed.log 2>&1 &
done
wait
python3 - <<'PY'
import csv, glob, statistics
rows = []
for path in sorted(glob.glob("Hopper-v4_sac_s*.csv")):
    r = [x for x in csv.DictReader(open(path)) if x["eval/return_mean"]]
    last = float(r[-1]["eval/return_mean"]); last10 = statistics.mean(float(x["eval/return_mean"]) for x in r[-10:])
    rows.append((path, int(r[-1]["env_steps"]), last, last10, float(r[-1]["eval/normalized"])))
print("| run | env steps | eval return at the end | mean of the last 10 evaluations | normalised at the end |")
print("|---|---|---|---|---|")
for p, s, l, l10, n in rows: print(f"| {p} | {s} | {l:.0f} | {l10:.0f} | {n:.1f} |")
for i, name in ((2, "end"), (3, "last 10")):
    v = [x[i] for x in rows]
    print(f"| mean [range], {name} | | {statistics.mean(v):.0f} [{min(v):.0f}, {max(v):.0f}] | | |")
PY
$O compare --variant "sac=$(ls Hopper-v4_sac_s*.csv | paste -sd, -)" --metric eval/return_mean \
  --plot sac_hopper.png --title "SAC on Hopper-v4 (3 seeds)" --out compare.md
