#!/usr/bin/env bash
# The kill campaign of docs/reliability.md: `o2o run --profile smoke` SIGKILLed at seeded moments in every phase
# (1-2 kills per phase and round), rerun after each kill, every final-named file checked after each kill, each
# finished round compared with an uninterrupted run; then a small sweep killed at seeded moments. Niced: the machine
# is shared. Any extra arguments go to the tool (--rounds N --seed S --sweep-kills N --work DIR).
#   scripts/reliability/kill-campaign.sh                 6 rounds + 8 sweep kills (≈ 60 kills, ~15 min)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
"$here/scripts/ensure-deps.sh"
dotnet build "$here/tools/O2O.Reliability/O2O.Reliability.csproj" -c Release -nologo -v q -clp:ErrorsOnly >&2
exec nice -n 10 dotnet "$here/tools/O2O.Reliability/bin/Release/net10.0/o2o-reliability.dll" kill \
  --rounds 6 --seed 1 --sweep-kills 8 "$@"
