#!/usr/bin/env bash
# Bring up a throwaway single-node SLURM cluster on this host, with one fake GPU, for the cluster test.
#
#   tests/cluster/slurm_up.sh [STATE_DIR]      (default /tmp/pokepsro-slurm; needs root)
#
# Everything lives in STATE_DIR: slurm.conf, gres.conf, a private munged (own key and socket), spool dirs,
# logs and the PID of every daemon it starts. The one thing outside it is /etc/slurm/slurm.conf, a link to
# STATE_DIR/slurm.conf: the executor plugin's job step drops SLURM_CONF from the environment of the `srun`
# it runs inside each job, so clients must find the config at the default path. An existing
# /etc/slurm/slurm.conf that is not such a link is never replaced (the script refuses), unless it links to another
# cluster of this script whose daemons are all gone (a killed test run's), which is replaced.
# Idempotent: if the cluster of STATE_DIR is already up, it says so and exits 0. A half-up cluster is torn
# down and started again. Stop it with tests/cluster/slurm_down.sh STATE_DIR (by PID, SIGTERM then SIGKILL).
set -euo pipefail

STATE_DIR=$(realpath -m "${1:-/tmp/pokepsro-slurm}")
HERE=$(cd "$(dirname "$0")" && pwd)
CTLD_PORT=16817   # not SLURM's default 6817/6818: never talk to a real cluster's daemons by accident
SLURMD_PORT=16818
IDLE_TIMEOUT_S=60
export SLURM_CONF="$STATE_DIR/slurm.conf"
DEFAULT_CONF=/etc/slurm/slurm.conf
CONF_MARKER="# Throwaway single-node cluster written by tests/cluster/slurm_up.sh."

log() { echo "slurm_up: $*" >&2; }
die() { log "error: $*"; exit 1; }

install_packages() {
    local missing=()
    for binary in slurmctld slurmd sbatch munged; do
        command -v "$binary" >/dev/null || missing+=("$binary")
    done
    [[ ${#missing[@]} -eq 0 ]] && return
    [[ $EUID -eq 0 ]] || die "missing ${missing[*]}; run as root to install slurmctld slurmd slurm-client munge"
    log "installing slurmctld slurmd slurm-client munge (missing: ${missing[*]})"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        slurmctld slurmd slurm-client munge >/dev/null
}

# A link left by another throwaway cluster of this script whose daemons are all gone (its run was killed before
# slurm_down.sh): its config starts with our marker and none of its PID files names a live process.
stale_link() {
    local target other
    target=$(readlink "$DEFAULT_CONF") || return 1
    [[ "$(head -n1 "$target" 2>/dev/null)" == "$CONF_MARKER" ]] || return 1
    other=$(dirname "$target")
    for name in munged slurmctld slurmd; do
        pid_alive "$other/pids/$name.pid" && return 1
    done
    return 0
}

link_default_config() {
    if [[ -e "$DEFAULT_CONF" || -L "$DEFAULT_CONF" ]] && [[ "$(readlink "$DEFAULT_CONF")" != "$SLURM_CONF" ]]; then
        stale_link || die "$DEFAULT_CONF exists and is not ours; refusing to replace it (is a real SLURM configured" \
            "here, or another test cluster running?)"
        log "replacing $DEFAULT_CONF: it links to $(readlink "$DEFAULT_CONF"), a test cluster whose daemons are gone"
    fi
    mkdir -p "$(dirname "$DEFAULT_CONF")"
    ln -sfn "$SLURM_CONF" "$DEFAULT_CONF"
}

pid_alive() { [[ -s "$1" ]] && kill -0 "$(cat "$1")" 2>/dev/null; }

node_state() { timeout 5 sinfo -h -o %t 2>/dev/null | head -n1 || true; }  # bare sinfo blocks for minutes if slurmctld is down

cluster_is_up() {
    pid_alive "$STATE_DIR/pids/munged.pid" && pid_alive "$STATE_DIR/pids/slurmctld.pid" \
        && pid_alive "$STATE_DIR/pids/slurmd.pid" && [[ "$(node_state)" =~ ^(idle|mix|alloc)$ ]]
}

write_config() {
    local host node_line memory_mb
    host=$(hostname -s)
    # slurmd -C reports this host exactly as slurmd will see it (CPUs, sockets, cores, threads, memory).
    node_line=$(slurmd -C | head -n1)
    memory_mb=$(sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p' <<<"$node_line")
    [[ -n "$memory_mb" ]] || die "could not read RealMemory from 'slurmd -C': $node_line"
    node_line=$(sed "s/^NodeName=[^ ]*/NodeName=$host/; s/RealMemory=[0-9]*/RealMemory=$memory_mb/" <<<"$node_line")
    cat >"$STATE_DIR/slurm.conf" <<EOF
$CONF_MARKER
ClusterName=pokepsro-test
SlurmctldHost=$host
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
SlurmUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$STATE_DIR/munge/munge.socket
StateSaveLocation=$STATE_DIR/spool/slurmctld
SlurmdSpoolDir=$STATE_DIR/spool/slurmd
SlurmctldPidFile=$STATE_DIR/spool/slurmctld.pid
SlurmdPidFile=$STATE_DIR/spool/slurmd.pid
SlurmctldLogFile=$STATE_DIR/log/slurmctld.log
SlurmdLogFile=$STATE_DIR/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
ReturnToService=2
# The executor plugin's squeue status check needs finished jobs kept >= 3 x its first-check delay.
MinJobAge=300
GresTypes=gpu
$node_line Gres=gpu:1 State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
    # A fake GPU still needs a File; without one the node drains.
    echo "NodeName=$host Name=gpu File=/dev/null" >"$STATE_DIR/gres.conf"
}

# Start a daemon in the foreground of its own session, in the background of this script, and record its PID.
start_daemon() {
    local name=$1; shift
    setsid "$@" >>"$STATE_DIR/log/$name.out" 2>&1 </dev/null &
    echo $! >"$STATE_DIR/pids/$name.pid"
}

wait_for() {
    local what=$1 seconds=$2; shift 2
    local deadline=$((SECONDS + seconds))
    until "$@"; do
        ((SECONDS < deadline)) || return 1
        sleep 0.5
    done
    log "$what"
}

munge_works() { munge -n --socket="$STATE_DIR/munge/munge.socket" 2>/dev/null | unmunge --socket="$STATE_DIR/munge/munge.socket" >/dev/null 2>&1; }
node_is_idle() { [[ "$(node_state)" == idle ]]; }

# setpriv execs in place (unlike runuser, which stays as a parent), so the recorded PID is munged's own.
AS_MUNGE=(setpriv --reuid=munge --regid=munge --init-groups --)

start_munge() {
    local dir="$STATE_DIR/munge"
    mkdir -p "$dir"
    chown munge:munge "$dir"
    chmod 0755 "$dir"   # munged insists clients can reach its socket
    "${AS_MUNGE[@]}" mungekey --create --keyfile="$dir/munge.key"
    start_daemon munged "${AS_MUNGE[@]}" munged --foreground --socket="$dir/munge.socket" \
        --key-file="$dir/munge.key" --pid-file="$dir/munged.pid" --log-file="$dir/munged.log" \
        --seed-file="$dir/munged.seed"
    wait_for "munged is up" 20 munge_works || die "munged did not start; see $dir/munged.log"
}

main() {
    install_packages
    link_default_config
    if cluster_is_up; then
        log "cluster in $STATE_DIR is already up"
        return
    fi
    # Half up, or left over from a crash: start clean. Spool dirs are wiped too (a drained node stays drained).
    "$HERE/slurm_down.sh" "$STATE_DIR" >&2
    rm -rf "$STATE_DIR"
    link_default_config
    mkdir -p "$STATE_DIR"/{pids,log,spool/slurmctld,spool/slurmd}
    write_config
    start_munge
    start_daemon slurmctld slurmctld -D -i -f "$SLURM_CONF"
    start_daemon slurmd slurmd -D -f "$SLURM_CONF"
    if ! wait_for "node $(hostname -s) is idle" "$IDLE_TIMEOUT_S" node_is_idle; then
        log "node not idle after ${IDLE_TIMEOUT_S}s (state: '$(node_state)'); reason: $(timeout 5 sinfo -h -R 2>&1 || true)"
        tail -n 20 "$STATE_DIR/log/slurmctld.log" "$STATE_DIR/log/slurmd.log" >&2 || true
        "$HERE/slurm_down.sh" "$STATE_DIR" >&2
        exit 1
    fi
}

main
