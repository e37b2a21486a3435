#!/usr/bin/env bash
# Installs the Debian packages O2O needs, only when missing. Idempotent and quiet when all is there.
#   scripts/ensure-deps.sh          runtime: MuJoCo 2.2.2, fonts for plots
#   scripts/ensure-deps.sh --test   also what the tests compare against (numpy, h5py, PyTorch, gcc)
set -euo pipefail

pkgs=(libmujoco2.2.2 libmujoco-dev fonts-dejavu-core)
if [[ "${1:-}" == "--test" ]]; then
  pkgs+=(python3-numpy python3-h5py python3-torch gcc)
fi

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

if ! command -v dotnet >/dev/null 2>&1; then
  echo "o2o: the .NET 10 SDK is not installed; install it (see README 'Requirements') and run again" >&2
  exit 1
fi

SUDO=""
if [[ $(id -u) -ne 0 ]]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "o2o: missing Debian packages: ${missing[*]}; run as root or: apt-get install ${missing[*]}" >&2
    exit 1
  fi
fi
echo "o2o: installing Debian packages: ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq >&2
if ! $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2; then
  echo "o2o: apt-get could not install ${missing[*]}; install them by hand and run again" >&2
  exit 1
fi
