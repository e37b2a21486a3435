#!/usr/bin/env bash
# Runs every test of O2O: installs what is missing, builds, runs each test project, sums up.
#   ./test.sh                      everything
#   ./test.sh --filter NAME        only tests whose full name contains NAME (dotnet test --filter)
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here"
scripts/ensure-deps.sh --test || exit 1

filter=()
if [[ "${1:-}" == "--filter" && -n "${2:-}" ]]; then filter=(--filter "FullyQualifiedName~$2"); fi

echo "== build" >&2
dotnet build O2O.slnx -c Release -nologo -v q -clp:ErrorsOnly || { echo "test.sh: build failed" >&2; exit 1; }

passed=0; failed=0; skipped=0; status=0
# The Slurm backend's test (SweepTests) runs against a one-node Slurm on this machine, started here and stopped at
# the end (scripts/slurm/single-node.sh; O2O_SKIP_SLURM=1 leaves it out and the test skips).
if [[ "${O2O_SKIP_SLURM:-0}" != 1 ]]; then
  echo "== single-node Slurm" >&2
  if scripts/slurm/single-node.sh start; then
    export O2O_SLURM=1
    trap 'scripts/slurm/single-node.sh stop' EXIT
  else
    echo "test.sh: could not start the single-node Slurm (scripts/slurm/single-node.sh start)" >&2
    failed=1; status=1
  fi
fi
log="$(mktemp)"
for proj in tests/*/*.csproj; do
  echo "== $(basename "$proj" .csproj)" >&2
  dotnet test "$proj" -c Release --no-build -nologo "${filter[@]}" --logger "console;verbosity=normal" 2>&1 | tee "$log" \
    | grep -E "^ +(Failed|Skipped) [A-Z]|^Total tests|error|Error Message|Assert|Stack Trace|\.cs:line" || true
  rc=${PIPESTATUS[0]}
  count() { grep -E "^ +$1: +[0-9]+ *$" "$log" | tail -n 1 | grep -oE "[0-9]+" || echo 0; }
  if grep -qE "^Total tests: [0-9]+" "$log"; then
    passed=$((passed + $(count Passed))); failed=$((failed + $(count Failed))); skipped=$((skipped + $(count Skipped)))
  elif [[ $rc -ne 0 ]] && ! grep -q "No test matches" "$log"; then
    failed=$((failed + 1)); echo "test.sh: $proj did not run (exit $rc)" >&2
  fi
  [[ $rc -ne 0 ]] && ! grep -q "No test matches" "$log" && status=1
done
rm -f "$log"
echo "$passed passed, $failed failed, $skipped skipped"
[[ $failed -gt 0 ]] && status=1
exit $status
