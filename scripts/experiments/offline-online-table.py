#!/usr/bin/env python3
"""Per-run rows of results.md §9's preliminary table, from a sweep folder's CSVs:
before = the offline agent's last eval/normalized; first online evaluation; min over the first 20k online steps;
mean of the last 10 evaluations.   usage: offline-online-table.py SWEEP_DIR ARM:SEED [ARM:SEED ...]"""
import csv, sys

def evals(path):
    rows = csv.DictReader(open(path))
    return [(float(r['env_steps']), float(r['eval/normalized'])) for r in rows
            if r['eval/normalized'] not in ('', 'nan')]

root = sys.argv[1]
for spec in sys.argv[2:]:
    arm, seed = spec.split(':')
    before = evals(f'{root}/offline/Hopper-v4_algoiql_s{seed}/agent.csv')[-1][1]
    online = evals(f'{root}/online/Hopper-v4_{arm}_s{seed}/run.csv')
    first20k = [v for s, v in online if s <= 20000]
    last10 = [v for _, v in online][-10:]
    print(f'{arm} s{seed}: before {before:.1f} first {online[0][1]:.1f} min20k {min(first20k):.1f} '
          f'last10 {sum(last10) / len(last10):.1f} ({len(online)} evals)')
