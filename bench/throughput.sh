#!/usr/bin/env bash
# TCP throughput through Tern, wireguard-go and strongSwan (kernel-libipsec) between two namespaces,
# side by side in one run, plus the plain veth. See bench/README.md.
#
# Env (defaults in brackets):
#   BENCH_TARGETS   targets in order ["veth tern wireguard-go strongswan"]
#   BENCH_SECONDS   iperf3 duration per run [10]     BENCH_RUNS  runs per figure [3]
#   BENCH_STREAMS   parallel-stream counts ["1 4"]
#   BENCH_NO_BUILD  1: do not run `swift build -c release`   TERN_BIN_DIR  ternd/tern directory
#   SS_AES_PLUGIN   strongSwan AES provider: aesni (Debian's default choice) or openssl [aesni]
#   BENCH_OUT       also write the raw results (TSV) to this file
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
. bench/lib.sh
trap 'cleanup; rm -rf "$WORK"' EXIT
trap 'exit 130' INT TERM

[ "$(id -u)" -eq 0 ] || die "needs root (network namespaces)"
TARGETS=${BENCH_TARGETS:-veth tern wireguard-go strongswan}
SECS=${BENCH_SECONDS:-10}
RUNS=${BENCH_RUNS:-3}
STREAMS=${BENCH_STREAMS:-1 4}
SS_AES=${SS_AES_PLUGIN:-aesni}
RESULTS=$WORK/results.tsv
: >"$RESULTS"
failed_targets=()

# ---- one measurement series on the current topology -----------------------------------------------
measure() {   # measure TARGET SERVER_ADDR CLIENT_ADDR
    local target=$1 saddr=$2 caddr=$3 p r line
    for p in $STREAMS; do
        for r in $(seq 1 "$RUNS"); do
            line=$(iperf_run "$NS_B" "$saddr" "$NS_A" "$caddr" "$p" "$SECS")
            printf '%s\t%s\t%s\t%s\n' "$target" "$p" "$r" "${line// /$'\t'}" >>"$RESULTS"
            log "$target  streams=$p run=$r: $line (Mbit/s steal% retransmits)"
        done
    done
}

# ---- targets -------------------------------------------------------------------------------------
run_veth() {
    topology veth
    measure veth 192.0.2.2 192.0.2.1
}

run_tern() {
    local bindir=${TERN_BIN_DIR:-}
    if [ -z "$bindir" ]; then
        command -v swift >/dev/null 2>&1 || export PATH=/opt/swift/usr/bin:$PATH
        if [ "${BENCH_NO_BUILD:-0}" != 1 ]; then log "swift build -c release"; swift build -c release >&2; fi
        bindir=$(swift build -c release --show-bin-path)
    fi
    topology tern
    local k1 k2 side
    k1=$(rand_hex 36) k2=$(rand_hex 36)
    for side in a b; do
        local f=$WORK/tern-$side.setkey local_net remote_net local_ip remote_ip
        if [ $side = a ]; then local_net=203.0.113.0/24 remote_net=198.51.100.0/24 local_ip=192.0.2.1 remote_ip=192.0.2.2
        else local_net=198.51.100.0/24 remote_net=203.0.113.0/24 local_ip=192.0.2.2 remote_ip=192.0.2.1; fi
        (umask 077; cat >"$f" <<EOF
flush;
spdflush;
add 192.0.2.1 192.0.2.2 esp 0x1001 -m tunnel -E aes-gcm-16 0x$k1;
add 192.0.2.2 192.0.2.1 esp 0x1002 -m tunnel -E aes-gcm-16 0x$k2;
spdadd $local_net $remote_net any -P out ipsec esp/tunnel/$local_ip-$remote_ip/require;
spdadd $remote_net $local_net any -P in ipsec esp/tunnel/$remote_ip-$local_ip/require;
EOF
        )
        local ns=$NS_A; [ $side = b ] && ns=$NS_B
        bg "$ns" "$WORK/ternd-$side.log" "$bindir/ternd" --setkey "$f" --vici "$WORK/ternd-$side.vici" --log-level notice
        local pid=$BG_PID
        if ! wait_ternd "$pid" "$WORK/ternd-$side.vici" "$bindir"; then
            echo "---- ternd $side log:" >&2; tail -30 "$WORK/ternd-$side.log" >&2
            return 1
        fi
    done
    wait_until 10 "ping through Tern" ip netns exec "$NS_A" ping -c1 -W1 -I 203.0.113.1 198.51.100.1 || return 1
    measure tern 198.51.100.1 203.0.113.1
    "$bindir/tern" --vici "$WORK/ternd-a.vici" state >"$WORK/tern-state-a.txt" 2>&1 || true
}

run_wireguard_go() {
    topology wg
    local side ns ifn key peer_pub port=51820
    for side in a b; do (umask 077; wg genkey >"$WORK/wg-$side.key"); wg pubkey <"$WORK/wg-$side.key" >"$WORK/wg-$side.pub"; done
    for side in a b; do
        ns=$NS_A ifn=wgbench-a$$; [ $side = b ] && ns=$NS_B ifn=wgbench-b$$
        ifn=${ifn:0:15}
        bg "$ns" "$WORK/wg-$side.log" \
            env WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD=1 wireguard-go -f "$ifn"
        wait_until 10 "wireguard-go $side" ip -n "$ns" link show "$ifn" || return 1
        wait_until 10 "wireguard-go $side UAPI" ip netns exec "$ns" wg show "$ifn" || return 1
        if [ $side = a ]; then
            ip netns exec "$ns" wg set "$ifn" private-key "$WORK/wg-a.key" listen-port $port \
                peer "$(cat "$WORK/wg-b.pub")" endpoint 192.0.2.2:$port allowed-ips 198.51.100.1/32
            ip -n "$ns" link set "$ifn" up
            ip -n "$ns" route add 198.51.100.1/32 dev "$ifn" src 203.0.113.1
        else
            ip netns exec "$ns" wg set "$ifn" private-key "$WORK/wg-b.key" listen-port $port \
                peer "$(cat "$WORK/wg-a.pub")" endpoint 192.0.2.1:$port allowed-ips 203.0.113.1/32
            ip -n "$ns" link set "$ifn" up
            ip -n "$ns" route add 203.0.113.1/32 dev "$ifn" src 198.51.100.1
        fi
    done
    wait_until 10 "ping through wireguard-go" ip netns exec "$NS_A" ping -c1 -W1 -I 203.0.113.1 198.51.100.1 || return 1
    measure wireguard-go 198.51.100.1 203.0.113.1
}

strongswan_side() {   # strongswan_side a|b NS
    local side=$1 ns=$2
    local dir=$WORK/ss-$side me peer my_ts peer_ts
    if [ $side = a ]; then me=192.0.2.1 peer=192.0.2.2 my_ts=203.0.113.1/32 peer_ts=198.51.100.1/32
    else me=192.0.2.2 peer=192.0.2.1 my_ts=198.51.100.1/32 peer_ts=203.0.113.1/32; fi
    mkdir -p "$dir/run" "$dir"/{x509,x509ca,x509ocsp,x509aa,x509ac,x509crl,pubkey,private,rsa,ecdsa,bliss,pkcs8,pkcs12}
    # kernel-libipsec before kernel-netlink (INTEROP.md), plugins loaded explicitly.
    cat >"$dir/strongswan.conf" <<EOF
charon {
    load_modular = no
    load = random nonce $SS_AES openssl aes sha1 sha2 hmac gcm chapoly curve25519 gmp kdf pem pkcs1 pkcs8 x509 pubkey revocation constraints kernel-libipsec kernel-netlink socket-default vici
    install_routes = yes
    routing_table = 220
    routing_table_prio = 220
    filelog {
        log {
            path = $dir/charon.log
            default = 1
            ike = 1
            time_format = %H:%M:%S
        }
    }
    plugins {
        vici {
            socket = unix://$dir/charon.vici
        }
    }
}
EOF
    cat >"$dir/swanctl.conf" <<EOF
connections {
    bench {
        version = 2
        local_addrs = $me
        remote_addrs = $peer
        proposals = aes256gcm16-prfsha256-x25519
        local {
            auth = psk
            id = $side.bench.example
        }
        remote {
            auth = psk
        }
        children {
            bench {
                local_ts = $my_ts
                remote_ts = $peer_ts
                esp_proposals = aes256gcm16
                mode = tunnel
            }
        }
    }
}
secrets {
    ike-bench {
        secret = "$SS_PSK"
    }
}
EOF
    # charon hard-codes /var/run/charon.pid: give it a private /run in its own mount namespace.
    bg "$ns" "$dir/charon.out" unshare -m sh -c \
        "mount --bind '$dir/run' /run && exec env STRONGSWAN_CONF='$dir/strongswan.conf' /usr/lib/ipsec/charon"
    wait_until 20 "charon $side vici socket" swanctl --stats --uri "unix://$dir/charon.vici" \
        || { tail -20 "$dir/charon.log" "$dir/charon.out" >&2; return 1; }
    swanctl --load-all --noprompt --file "$dir/swanctl.conf" --uri "unix://$dir/charon.vici" >"$dir/load.log" 2>&1 \
        || { cat "$dir/load.log" >&2; return 1; }
}

run_strongswan() {
    topology ss
    SS_PSK=$(rand_hex 24)
    strongswan_side a "$NS_A" || return 1
    strongswan_side b "$NS_B" || return 1
    swanctl --initiate --child bench --timeout 20 --uri "unix://$WORK/ss-a/charon.vici" >"$WORK/ss-a/initiate.log" 2>&1 \
        || { cat "$WORK/ss-a/initiate.log" >&2; tail -30 "$WORK/ss-a/charon.log" >&2; return 1; }
    wait_until 10 "ping through strongSwan" ip netns exec "$NS_A" ping -c1 -W1 -I 203.0.113.1 198.51.100.1 || return 1
    swanctl --list-sas --uri "unix://$WORK/ss-a/charon.vici" >"$WORK/ss-a/sas-before.txt" 2>&1 || true
    measure strongswan 198.51.100.1 203.0.113.1
    swanctl --list-sas --uri "unix://$WORK/ss-a/charon.vici" >"$WORK/ss-a/sas-after.txt" 2>&1 || true
    grep -E "encap|AES_GCM|bytes_i|bytes_o|in  |out " "$WORK/ss-a/sas-after.txt" | sed 's/^/    /' >&2 || true
}

for t in $TARGETS; do
    log "==== $t (${RUNS} x ${SECS}s, streams: $STREAMS)"
    fn=run_${t//-/_}
    declare -F "$fn" >/dev/null || die "unknown target '$t' (veth tern wireguard-go strongswan)"
    if ! ( set -e; trap cleanup EXIT; "$fn" ); then
        log "$t FAILED (see messages above)"
        failed_targets+=("$t")
    fi
done

[ -n "${BENCH_OUT:-}" ] && cp "$RESULTS" "$BENCH_OUT"
python3 - "$RESULTS" "$SECS" "$RUNS" "${failed_targets[*]:-}" <<'PY'
import statistics, sys
from collections import defaultdict
path, secs, runs, failed = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4].split()
data = defaultdict(list)
steal = defaultdict(list)
order = []
for line in open(path):
    t, p, r, mbits, st, retr = line.rstrip("\n").split("\t")
    if t not in order:
        order.append(t)
    data[(t, int(p))].append(float(mbits))
    steal[t].append(float(st))
streams = sorted({p for (_, p) in data})
med = {k: statistics.median([x for x in v if x == x] or [float("nan")]) for k, v in data.items()}
print(f"\nTCP throughput, iperf3, {secs} s x {runs} runs, median Mbit/s (min-max)")
hdr = f"{'path':<14}" + "".join(f"{str(p) + ' stream' + ('s' if p > 1 else ''):>24}" for p in streams) + f"{'steal % (max)':>16}"
print(hdr)
print("-" * len(hdr))
for t in order:
    cells = ""
    for p in streams:
        v = data.get((t, p), [])
        cells += f"{med[(t, p)]:>10.0f} ({min(v):.0f}-{max(v):.0f})".rjust(24) if v else f"{'-':>24}"
    print(f"{t:<14}{cells}{statistics.mean(steal[t]):>9.1f} ({max(steal[t]):.0f})")
for t in failed:
    print(f"{t:<14}{'FAILED':>24}")
for ref in ("wireguard-go", "strongswan"):
    if ("tern", streams[0]) in med and any((ref, p) in med for p in streams):
        ratios = ", ".join(f"{p} stream{'s' if p > 1 else ''} {med[('tern', p)] / med[(ref, p)]:.2f}"
                           for p in streams if (ref, p) in med and med[(ref, p)])
        print(f"Tern/{ref}: {ratios}")
PY
[ ${#failed_targets[@]} -eq 0 ]
