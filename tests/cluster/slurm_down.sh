#!/usr/bin/env bash
# Stop the throwaway cluster that tests/cluster/slurm_up.sh started in STATE_DIR (default /tmp/pokepsro-slurm).
#
# Cancels its jobs, then stops every process of the cluster, by PID: munged, slurmctld, slurmd, the slurmstepd
# processes slurmd forked and what runs under them (see cluster_pids). SIGTERM first, SIGKILL after a grace
# period. Then removes the /etc/slurm/slurm.conf link if it points into STATE_DIR. Safe to call when nothing is running; exits 1 if a process survives SIGKILL.
set -uo pipefail

STATE_DIR=$(realpath -m "${1:-/tmp/pokepsro-slurm}")
GRACE_S=10
export SLURM_CONF="$STATE_DIR/slurm.conf"

log() { echo "slurm_down: $*" >&2; }

# PIDs of every process of this cluster: its daemons (named on their command line with STATE_DIR), whatever holds
# a file under STATE_DIR open (slurmstepd keeps slurmd's log open; its environment is wiped, so no mark survives),
# and all their descendants (slurmscriptd, the jobs' processes).
cluster_pids() {
    local roots
    roots=$(
        for cmdline in /proc/[0-9]*/cmdline; do
            pid=${cmdline#/proc/}; pid=${pid%/cmdline}
            case "$(cat "/proc/$pid/comm" 2>/dev/null)" in munged|slurmctld|slurmd) ;; *) continue ;; esac
            { tr '\0' ' ' <"$cmdline"; } 2>/dev/null | grep -qF "$STATE_DIR/" && echo "$pid"
        done
        find /proc/[0-9]*/fd -maxdepth 1 -lname "$STATE_DIR/*" 2>/dev/null | cut -d/ -f3
    )
    [[ -n "$roots" ]] || return 0
    ps -eo pid=,ppid= | awk -v roots="$(echo $roots)" -v self=$$ '
        BEGIN { n = split(roots, r, " "); for (i = 1; i <= n; i++) keep[r[i]] = 1 }
        { parent[$1] = $2 }
        END {
            do { grown = 0; for (p in parent) if (!(p in keep) && (parent[p] in keep)) { keep[p] = 1; grown = 1 } } while (grown)
            for (p in keep) if (p != self) print p
        }'
}

alive() {
    local pid
    for pid in "$@"; do
        [[ -r /proc/$pid/stat ]] || continue
        [[ "$(cut -d' ' -f3 "/proc/$pid/stat" 2>/dev/null)" == Z ]] && continue
        echo "$pid"
    done
}

cancel_jobs() {
    [[ -f "$SLURM_CONF" ]] || return 0
    local jobs
    jobs=$(timeout 5 squeue -h -o %i 2>/dev/null) || return 0   # slurmctld down: nothing to cancel
    [[ -n "$jobs" ]] || return 0
    log "cancelling jobs: $(echo $jobs)"
    timeout 5 scancel $jobs 2>/dev/null
    local deadline=$((SECONDS + GRACE_S))
    while ((SECONDS < deadline)) && [[ -n "$(timeout 5 squeue -h -t PD,R,CG -o %i 2>/dev/null)" ]]; do
        sleep 0.5
    done
}

stop_processes() {
    local pids
    pids=$(alive $(cluster_pids | sort -un))
    [[ -n "$pids" ]] || return 0
    log "SIGTERM $(echo $pids)"
    kill -TERM $pids 2>/dev/null
    local deadline=$((SECONDS + GRACE_S))
    while ((SECONDS < deadline)) && [[ -n "$(alive $pids)" ]]; do
        sleep 0.2
    done
    pids=$(alive $pids)
    if [[ -n "$pids" ]]; then
        log "SIGKILL $(echo $pids)"
        kill -KILL $pids 2>/dev/null
        sleep 0.5
    fi
    pids=$(alive $(cluster_pids | sort -un))
    [[ -z "$pids" ]] || { log "error: still running: $(echo $pids)"; return 1; }
}

unlink_default_config() {
    [[ "$(readlink /etc/slurm/slurm.conf 2>/dev/null)" == "$SLURM_CONF" ]] && rm -f /etc/slurm/slurm.conf
    return 0
}

cancel_jobs
stop_processes
status=$?
unlink_default_config
exit $status
