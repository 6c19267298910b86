#!/usr/bin/env bash
# Two hosts in network namespaces, two ternd that negotiate an IKEv2 tunnel (PSK, AES-256-GCM,
# X25519), ping and a TCP transfer through it, then the SAs and data-plane state.
# Cleans up everything it made, also on failure.
#   scripts/demo.sh [--release]      (as root)
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
config=debug; [ "${1:-}" = "--release" ] && config=release

step() { printf '\n\033[1;34m### %s\033[0m\n' "$*"; }
ok()   { printf '\033[32m    ok:\033[0m %s\n' "$*"; }

NS_A=tern-demo-a-$$ NS_B=tern-demo-b-$$
WORK=$(mktemp -d /tmp/tern-demo.XXXXXX)
PIDS=()
cleanup() {
    local rc=$?
    step "Cleaning up"
    for pid in "${PIDS[@]}"; do
        kill -TERM "$pid" 2>/dev/null || continue
        for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
        kill -KILL "$pid" 2>/dev/null || true
    done
    ip netns del "$NS_A" 2>/dev/null || true
    ip netns del "$NS_B" 2>/dev/null || true
    if [ $rc -ne 0 ]; then
        for f in "$WORK"/ternd-*.log; do [ -f "$f" ] && { echo "---- $f (last 40 lines)"; tail -40 "$f"; }; done
        printf '\033[31mdemo FAILED (exit %s)\033[0m\n' "$rc"
    else
        printf '\033[32mdemo finished\033[0m\n'
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# wait_until TIMEOUT DESCRIPTION COMMAND...: polls every 50 ms, no fixed sleeps.
wait_until() {
    local timeout=$1 what=$2; shift 2
    local deadline=$((SECONDS + timeout))
    until "$@" >/dev/null 2>&1; do
        [ $SECONDS -lt $deadline ] || { echo "timed out after ${timeout}s waiting for $what" >&2; return 1; }
        sleep 0.05
    done
}

# wait_ternd PID SOCKET: ready when the socket exists and `tern state --json` answers; fails at once
# if the daemon exits.
wait_ternd() {
    local pid=$1 sock=$2 deadline=$((SECONDS + 20))
    while :; do
        if ! kill -0 "$pid" 2>/dev/null; then wait "$pid"; echo "ternd (pid $pid) exited with $? before it was ready" >&2; return 1; fi
        [ -S "$sock" ] && "$BIN/tern" --vici "$sock" state --json >/dev/null 2>&1 && return 0
        [ $SECONDS -lt $deadline ] || { echo "ternd (pid $pid) not ready after 20s" >&2; return 1; }
        sleep 0.05
    done
}

[ "$(id -u)" -eq 0 ] || { echo "demo.sh needs root (network namespaces)" >&2; exit 1; }

step "Setup and build ($config)"
if [ $config = release ]; then bash scripts/setup.sh --release; else bash scripts/setup.sh; fi
command -v swift >/dev/null 2>&1 || export PATH=/opt/swift/usr/bin:$PATH
BIN=${TERN_BIN_DIR:-$(swift build -c $config --show-bin-path)}

step "Two hosts: $NS_A (192.0.2.1, inner 203.0.113.1) <-veth-> $NS_B (192.0.2.2, inner 198.51.100.1)"
ip netns add "$NS_A"; ip netns add "$NS_B"
ip link add "tdemoa$$" netns "$NS_A" type veth peer name "tdemob$$" netns "$NS_B"
ip -n "$NS_A" link set "tdemoa$$" name veth0
ip -n "$NS_B" link set "tdemob$$" name veth0
for ns in "$NS_A" "$NS_B"; do ip -n "$ns" link set lo up; ip -n "$ns" link set veth0 up; done
ip -n "$NS_A" addr add 192.0.2.1/24 dev veth0
ip -n "$NS_B" addr add 192.0.2.2/24 dev veth0
ip -n "$NS_A" addr add 2001:db8:1::1/64 dev veth0 nodad
ip -n "$NS_B" addr add 2001:db8:1::2/64 dev veth0 nodad
ip -n "$NS_A" addr add 203.0.113.1/32 dev lo
ip -n "$NS_B" addr add 198.51.100.1/32 dev lo
wait_until 10 "the underlay" ip netns exec "$NS_A" ping -c1 -W1 192.0.2.2
ok "underlay up: $(ip netns exec "$NS_A" ping -c1 -W1 192.0.2.2 | grep -o 'time=.*')"

step "swanctl.conf on both hosts with a fresh pre-shared key (mode 0600) from examples/demo/*.swanctl.conf"
PSK=$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')
for side in a b; do
    (umask 077; sed -e "s/@PSK@/$PSK/g" "examples/demo/$side.swanctl.conf" >"$WORK/$side.swanctl.conf")
    ok "$WORK/$side.swanctl.conf ($(stat -c %a "$WORK/$side.swanctl.conf"))"
done

step "Starting ternd (IKEv2) on both hosts"
for side in a b; do
    ns=$NS_A; [ $side = b ] && ns=$NS_B
    ip netns exec "$ns" "$BIN/ternd" --conf "$WORK/$side.swanctl.conf" --vici "$WORK/$side.vici" \
        >"$WORK/ternd-$side.log" 2>&1 </dev/null &
    PIDS+=($!)
    pid=$!
    wait_ternd "$pid" "$WORK/$side.vici"
    ok "ternd $side ready (pid $pid, control socket $WORK/$side.vici)"
done

step "tern initiate --child lan-to-lan on A: IKE_SA_INIT + IKE_AUTH with B"
"$BIN/tern" --vici "$WORK/a.vici" initiate --child lan-to-lan --timeout 20
grep -E 'established' "$WORK/ternd-a.log" | sed -E 's/^.*(IKE_SA|CHILD_SA)/    \1/' || true
ip -n "$NS_A" rule show | grep -E '^220:' | sed 's/^/    A rule:  /' || true
ip -n "$NS_A" route show table 220 | sed 's/^/    A table 220: /' || true

step "ping 198.51.100.1 from 203.0.113.1 through the tunnel"
ip netns exec "$NS_A" ping -c 5 -i 0.2 -I 203.0.113.1 198.51.100.1

step "TCP through the tunnel: iperf3 for 3 s, A -> B"
ip netns exec "$NS_B" iperf3 -s -1 -B 198.51.100.1 -p 5201 >"$WORK/iperf3-server.log" 2>&1 </dev/null &
PIDS+=($!)
wait_until 10 "the iperf3 server" sh -c "ip netns exec '$NS_B' ss -Hltn 'sport = :5201' | grep -q ."
ip netns exec "$NS_A" iperf3 -c 198.51.100.1 -B 203.0.113.1 -p 5201 -t 3 -f m | grep -E 'sender|receiver'

for side in a b; do
    step "tern list-sas on host $(echo $side | tr ab AB)"
    "$BIN/tern" --vici "$WORK/$side.vici" list-sas
done
step "tern state on host A (the data plane: SAD, SPD, counters)"
"$BIN/tern" --vici "$WORK/a.vici" state
