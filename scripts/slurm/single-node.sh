#!/usr/bin/env bash
# A one-node Slurm on this machine, for tests and trying sweeps: this machine is the controller and the only compute
# node; no systemd, no cgroups (proctrack/linuxproc), no accounting daemon.
#   scripts/slurm/single-node.sh start    install slurm-wlm and munge when missing (apt), write the configuration,
#                                         start munged, slurmctld and slurmd, wait until sinfo shows the node idle
#   scripts/slurm/single-node.sh stop     stop what start started
#   scripts/slurm/single-node.sh status   sinfo
# The configuration goes to /etc/slurm/slurm.conf, unless one is there that this script did not write (a real
# cluster's): then it stops with an error. State and logs: /var/spool/o2o-slurm, /var/log/o2o-slurm.
set -euo pipefail
conf=/etc/slurm/slurm.conf
marker="# o2o single-node Slurm (scripts/slurm/single-node.sh)"
state=/var/spool/o2o-slurm
logs=/var/log/o2o-slurm
SUDO=""
if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null 2>&1 || { echo "single-node.sh: run as root (or install sudo)" >&2; exit 1; }
  SUDO="sudo"
fi
say() { echo "single-node.sh: $*" >&2; }
# A live (not zombie) process of that name.
alive() { ps -C "$1" -o stat= 2>/dev/null | grep -qv '^Z'; }

install() {
  local missing=()
  for p in slurm-wlm munge; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [[ ${#missing[@]} -eq 0 ]] && return 0
  say "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq >&2
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2 \
    || { say "apt-get could not install ${missing[*]}; install them by hand"; exit 1; }
}

configure() {
  if [[ -f $conf ]] && ! grep -qF "$marker" "$conf"; then
    say "$conf exists and was not written by this script (a real cluster's?); not touching it"; exit 1
  fi
  local host node
  host="$(hostname -s)"
  # The node line as slurmd sees this machine (CPUs, sockets, cores, memory), so the node is not drained.
  node="$(slurmd -C | head -n 1 | sed -E 's/^NodeName=[^ ]+ //')"
  $SUDO mkdir -p "$state/ctld" "$state/d" "$logs" /etc/slurm
  $SUDO tee "$conf" >/dev/null <<CONF
$marker
ClusterName=o2o
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
StateSaveLocation=$state/ctld
SlurmdSpoolDir=$state/d
SlurmctldPidFile=$state/slurmctld.pid
SlurmdPidFile=$state/slurmd.pid
SlurmctldLogFile=$logs/slurmctld.log
SlurmdLogFile=$logs/slurmd.log
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
MinJobAge=600
NodeName=$host NodeAddr=127.0.0.1 $node State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP OverSubscribe=NO
CONF
}

start_munge() {
  if munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then return 0; fi
  [[ -f /etc/munge/munge.key ]] || $SUDO mungekey --create 2>/dev/null \
    || $SUDO sh -c 'dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key 2>/dev/null'
  $SUDO chown munge:munge /etc/munge/munge.key && $SUDO chmod 0400 /etc/munge/munge.key
  $SUDO mkdir -p /run/munge /var/log/munge /var/lib/munge
  $SUDO chown munge:munge /run/munge /var/log/munge /var/lib/munge
  $SUDO runuser -u munge -- /usr/sbin/munged
  $SUDO touch "$state/started-munged"
}

start() {
  install
  configure
  start_munge
  alive slurmctld || $SUDO slurmctld -c  # -c: no jobs left from an earlier start
  alive slurmd || $SUDO slurmd
  local host t
  host="$(hostname -s)"
  for t in $(seq 1 60); do
    case "$(sinfo -h -n "$host" -o %t 2>/dev/null || true)" in
      idle*|mix*|alloc*) say "node $host is up: $(sinfo -h -o '%P %a %D %t')"; return 0 ;;
      down*|drain*) $SUDO scontrol update nodename="$host" state=resume 2>/dev/null || true ;;
    esac
    sleep 1
  done
  say "the node did not become idle in 60 s; see $logs/slurmctld.log and $logs/slurmd.log"
  sinfo -N -l >&2 || true
  exit 1
}

stop() {
  if [[ -f $conf ]] && grep -qF "$marker" "$conf"; then
    $SUDO scontrol shutdown >/dev/null 2>&1 || true
    for pidfile in "$state/slurmctld.pid" "$state/slurmd.pid"; do
      [[ -f $pidfile ]] && $SUDO kill "$(cat "$pidfile")" 2>/dev/null || true
    done
    for t in $(seq 1 60); do alive slurmctld || alive slurmd || break; sleep 0.5; done
  fi
  if [[ -f $state/started-munged ]]; then
    [[ -f /run/munge/munged.pid ]] && $SUDO kill "$(cat /run/munge/munged.pid)" 2>/dev/null || true
    $SUDO rm -f "$state/started-munged"
  fi
  say "stopped"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) sinfo ;;
  *) echo "usage: scripts/slurm/single-node.sh start|stop|status" >&2; exit 2 ;;
esac
