# Shared pieces of the benchmark scripts (sourced, not run).
# Topology: namespaces $NS_A/$NS_B, veth 192.0.2.1/24 <-> 192.0.2.2/24, inner addresses on lo
# (A 203.0.113.1/32, B 198.51.100.1/32). Everything started is recorded in PIDS and killed by PID.

PIDS=()
NAMESPACES=()
WORK=${WORK:-$(mktemp -d /tmp/tern-bench.XXXXXX)}

log() { printf '\033[1m--> %s\033[0m\n' "$*" >&2; }
die() { echo "bench: $*" >&2; exit 1; }

cleanup() {
    local pid ns
    for pid in "${PIDS[@]}"; do
        kill -TERM "$pid" 2>/dev/null || continue
        for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
        kill -KILL "$pid" 2>/dev/null || true
    done
    PIDS=()
    for ns in "${NAMESPACES[@]}"; do ip netns del "$ns" 2>/dev/null || true; done
    NAMESPACES=()
}

# wait_until TIMEOUT_S DESCRIPTION COMMAND... : polls COMMAND every 50 ms.
wait_until() {
    local timeout=$1 what=$2; shift 2
    local deadline=$((SECONDS + timeout))
    until "$@" >/dev/null 2>&1; do
        [ $SECONDS -lt $deadline ] || { echo "bench: timed out after ${timeout}s waiting for $what" >&2; return 1; }
        sleep 0.05
    done
}

# wait_ternd PID SOCKET BINDIR: ready when the socket exists and `tern state --json` answers;
# fails at once if the daemon exits.
wait_ternd() {
    local pid=$1 sock=$2 bindir=$3 deadline=$((SECONDS + 20))
    while :; do
        if ! kill -0 "$pid" 2>/dev/null; then echo "bench: ternd (pid $pid) exited before it was ready" >&2; return 1; fi
        [ -S "$sock" ] && "$bindir/tern" --vici "$sock" state --json >/dev/null 2>&1 && return 0
        [ $SECONDS -lt $deadline ] || { echo "bench: ternd (pid $pid) not ready after 20s" >&2; return 1; }
        sleep 0.05
    done
}

topology() {   # topology TAG
    NS_A="tt-bench-a-$1-$$" NS_B="tt-bench-b-$1-$$"
    ip netns add "$NS_A" && NAMESPACES+=("$NS_A")
    ip netns add "$NS_B" && NAMESPACES+=("$NS_B")
    ip link add "ttba$$" netns "$NS_A" type veth peer name "ttbb$$" netns "$NS_B"
    ip -n "$NS_A" link set "ttba$$" name veth0
    ip -n "$NS_B" link set "ttbb$$" name veth0
    for ns in "$NS_A" "$NS_B"; do ip -n "$ns" link set lo up; ip -n "$ns" link set veth0 up; done
    ip -n "$NS_A" addr add 192.0.2.1/24 dev veth0
    ip -n "$NS_B" addr add 192.0.2.2/24 dev veth0
    ip -n "$NS_A" addr add 203.0.113.1/32 dev lo
    ip -n "$NS_B" addr add 198.51.100.1/32 dev lo
    wait_until 10 "underlay ping" ip netns exec "$NS_A" ping -c1 -W1 192.0.2.2
}

# bg NS LOGFILE COMMAND... : starts COMMAND in NS in the background, records its PID in BG_PID.
# `ip netns exec` execs the command, so the PID is the command's own.
bg() {
    local ns=$1 logf=$2; shift 2
    ip netns exec "$ns" "$@" >"$logf" 2>&1 </dev/null &
    BG_PID=$!
    PIDS+=("$BG_PID")
}

rand_hex() { od -An -tx1 -N"$1" /dev/urandom | tr -d ' \n'; }

# steal_sample: prints "steal total" jiffies summed over all CPUs.
steal_sample() { awk '/^cpu /{t=0; for(i=2;i<=NF;i++) t+=$i; print $9, t}' /proc/stat; }

# iperf_run NS_SERVER SERVER_ADDR NS_CLIENT CLIENT_ADDR STREAMS SECONDS -> prints "mbits steal_pct retrans"
iperf_run() {
    local nss=$1 saddr=$2 nsc=$3 caddr=$4 streams=$5 secs=$6
    local port=$((5201 + RANDOM % 500)) out="$WORK/iperf-$RANDOM.json"
    bg "$nss" "$WORK/iperf-server.log" iperf3 -s -1 -B "$saddr" -p "$port"
    local spid=$BG_PID
    wait_until 10 "iperf3 server" sh -c "ip netns exec '$nss' ss -Hltn 'sport = :$port' | grep -q ."
    local s0 s1
    s0=$(steal_sample)
    ip netns exec "$nsc" iperf3 -c "$saddr" -B "$caddr" -p "$port" -P "$streams" -t "$secs" -J >"$out" 2>&1 || true
    s1=$(steal_sample)
    wait "$spid" 2>/dev/null || true
    python3 - "$out" "$s0" "$s1" <<'PY'
import json, sys
path, s0, s1 = sys.argv[1], sys.argv[2].split(), sys.argv[3].split()
steal = 100.0 * (int(s1[0]) - int(s0[0])) / max(1, int(s1[1]) - int(s0[1]))
try:
    j = json.load(open(path))
    e = j["end"]
    mbits = e["sum_received"]["bits_per_second"] / 1e6
    retr = e.get("sum_sent", {}).get("retransmits", 0)
    print(f"{mbits:.0f} {steal:.1f} {retr}")
except Exception as ex:
    print(f"nan {steal:.1f} -1")
    sys.stderr.write(f"iperf3 failed: {ex}: {open(path).read()[-400:]}\n")
PY
}
