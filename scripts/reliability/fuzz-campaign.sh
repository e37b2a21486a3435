#!/usr/bin/env bash
# The fuzz campaign of docs/reliability.md: 10,000 seeded damaged inputs per reader (D4RL HDF5, Minari HDF5, NPZ,
# NPY, .pt, compare's CSVs, sweep specs), each read in a measuring worker process; prints the figures per format and
# keeps every failing input under the work folder's findings/. Niced: the machine is shared. Any extra arguments go
# to the tool (--cases N --seed S --formats a,b --work DIR --findings DIR).
#   scripts/reliability/fuzz-campaign.sh                 70,000 cases (~10 min)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
"$here/scripts/ensure-deps.sh" --test
dotnet build "$here/tools/O2O.Reliability/O2O.Reliability.csproj" -c Release -nologo -v q -clp:ErrorsOnly >&2
exec nice -n 10 dotnet "$here/tools/O2O.Reliability/bin/Release/net10.0/o2o-reliability.dll" fuzz \
  --cases 10000 --seed 1 "$@"
