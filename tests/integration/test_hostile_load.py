"""ternd under spoofed IKE_SA_INIT floods (issue 17): its log stays bounded, a peer whose address
is spoofed still gets in, and the control socket answers while flooded and while idle clients
hold it.

The floods come from a third namespace (flood.make_flood_topology: spoofed sources routed inside
the test's namespaces only), are bounded in rate and time, and stop by themselves.
"""
import json
import re
import socket
import struct
import sys
import time
from collections import Counter

import pytest

import flood
import ike_setups as ike
from netns import wait_for

pytestmark = [pytest.mark.needs_ternd, pytest.mark.timeout(90)]

METRICS = "127.0.0.1:9109"
NICE = -10

# ternd's per-packet log lines (LogLimiter.Kind) and the summary that replaces the rest.
PER_PACKET = {
    "no connection configured": re.compile(r"no connection configured for"),
    "malformed message": re.compile(r"malformed message from"),
    "message dropped (cannot decrypt or parse)": re.compile(r"dropping message \d+ from"),
    "half-open IKE_SA timed out": re.compile(r"half-open IKE_SA .* timed out"),
    "half-open IKE_SA evicted": re.compile(r"half-open IKE_SA from .* evicted"),
    "IKE_SA_INIT over block_threshold dropped": re.compile(r"IKE_SA_INIT from .* dropped: it already has"),
}
SUMMARY = re.compile(r"^(\d+) more '(.+)' messages in the last second")


def json_log(t) -> list[dict]:
    """ternd's --log-format json lines (a half-written last line is skipped)."""
    out = []
    for line in t.stderr().splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            pass
    return out


def metric(t, name: str, **labels) -> int:
    text = flood.metrics_text(t.ns, METRICS, timeout=10)
    want = ",".join(f'{k}="{v}"' for k, v in labels.items())
    for line in text.splitlines():
        if line.startswith(f"{name}{{{want}}} ") or (not labels and line.startswith(name + " ")):
            return int(float(line.rsplit(" ", 1)[1]))
    raise KeyError(f"{name}{{{want}}} not in metrics")


def cookies_sent(t) -> int:
    """Cookie answers from the engine and from the UDP 500 reader (which answers them itself
    while the engine requires cookies of everyone)."""
    return (metric(t, "tern_ike_messages_total", outcome="cookie_sent")
            + metric(t, "tern_ike_messages_total", outcome="cookie_sent_by_reader"))


def total_lines_hint(per_second: Counter, summaries: Counter) -> str:
    return f"{sum(per_second.values())} per-packet and {sum(summaries.values())} summary lines in all"


def responder(harness, pair, conf: str):
    return ike.start_ternd(harness, pair.b.ns, conf, label="ternd-b",
                           extra=["--log-format", "json", "--metrics", METRICS])


def test_log_bounded_and_spoofed_peer_still_gets_in(harness, pair, tern_bins):
    """Two floods at once for 5 s: IKE_SA_INITs spoofed with A's own address (the lockout attempt
    of issue 17), and from random spoofed sources for which no connection exists (one "no
    connection" event each). ternd logs at most a burst of each per-packet kind a second plus
    one summary line, the summaries add up to the exact counter, and A initiating during the
    flood still gets its CHILD SA (by returning the cookie it is asked for)."""
    topo = flood.make_flood_topology(harness, pair)
    ca, cb = ike.pair_confs(pair)
    tb = responder(harness, pair, cb)
    ta = ike.start_ternd(harness, pair.a.ns, ca, label="ternd-a")
    seconds = 5
    spoofed_peer = flood.Flood(harness, topo, rate=2000, seconds=seconds, src=topo.legit_addr, label="flood-peer-addr")
    no_conn = flood.Flood(harness, topo, rate=3000, seconds=seconds, label="flood-no-connection")
    # Once A's address holds its per-source share of half-open SAs, every INIT from it needs a cookie.
    wait_for(lambda: cookies_sent(tb) >= 10, timeout=5,
             what="responder asking A's address for cookies")
    t0 = time.monotonic()
    ta.tern("initiate", "--child", "net", timeout=30)
    took = time.monotonic() - t0
    assert ike.wait_child(ta)["state"] == "INSTALLED" and ike.child(tb)
    assert spoofed_peer.running() and no_conn.running(), "the initiation must happen during the floods"
    assert "asked for a cookie" in ta.stderr(), "A was not asked for a cookie"
    sent_peer, sent_none = spoofed_peer.result(), no_conn.result()
    assert sent_peer["sent"] >= 0.8 * 2000 * seconds and sent_none["sent"] >= 0.8 * 3000 * seconds, (sent_peer, sent_none)

    # Every "no connection" event is either logged or counted in a summary: wait for the last summary.
    def accounted():
        n = metric(tb, "tern_ike_messages_total", outcome="no_connection")
        lines = json_log(tb)
        logged = sum(1 for l in lines if PER_PACKET["no connection configured"].search(l["message"]))
        summed = sum(int(m.group(1)) for l in lines if (m := SUMMARY.match(l["message"]))
                     and m.group(2) == "no connection configured")
        return n >= 0.5 * sent_none["sent"] and logged + summed == n and (n, logged, summed)
    n, logged, summed = wait_for(accounted, timeout=10, what="the no-connection events all logged or summarized")

    per_second: Counter = Counter()      # (second, kind) -> one-by-one lines
    summaries: Counter = Counter()       # second -> summary lines
    for l in json_log(tb):
        sec = l["time"][:19]
        if SUMMARY.match(l["message"]):
            summaries[sec] += 1
            continue
        for kind, rx in PER_PACKET.items():
            if rx.search(l["message"]):
                per_second[(sec, kind)] += 1
    # A limiter window is one second from its first line, so one calendar second can hold the end
    # of one window and the start of the next: at most 2 x 5 lines of a kind.
    worst = max(per_second.values())
    print(f"{n} no-connection events: {logged} logged one by one, {summed} in summaries; worst second "
          f"{worst} lines of a kind, {total_lines_hint(per_second, summaries)}; initiation {took * 1000:.0f} ms")
    assert worst <= 10, sorted(per_second.items(), key=lambda kv: -kv[1])[:5]
    assert max(summaries.values()) <= 2 * len(PER_PACKET), summaries
    total_lines = sum(per_second.values()) + sum(summaries.values())
    assert total_lines <= 25 * (seconds + 3), f"{total_lines} per-packet and summary lines for {n} events"
    assert logged < 0.01 * n, (n, logged, summed)
    assert took < 5, f"the spoofed peer's initiation took {took:.1f}s"


def test_list_sas_fast_while_flooded_and_socket_held_by_idle_clients(harness, pair, tern_bins):
    """list-sas answers within 100 ms (the slowest of several calls) while 200 clients hold the
    control socket without sending anything, and also while a spoofed flood from random sources
    hits a connection that accepts any peer (each INIT a candidate half-open SA).

    The 100 ms are asserted for the daemon's answer: a VICI list-sas from here (connect, the
    streamed list, close), right after each `tern list-sas`. The `tern` command itself is timed
    too but held to 300 ms: the debug build's start-up alone takes 20-50 ms on this shared
    two-core machine, and while the flood and other jobs (compilers) load both cores it
    swings to 100-200 ms regardless of ternd (BENCHMARKS.md, "IKE under flood"). The responder
    and the `tern` calls run at nice -10 so other jobs count less as ternd's latency; the flood
    and the kernel's work for it still compete with them, as on a real host under attack."""
    topo = flood.make_flood_topology(harness, pair)
    ca, cb = ike.pair_confs(pair)
    tb = responder(harness, pair, cb.replace(f"remote_addrs = {pair.a.outer4}", "remote_addrs = %any"))
    ta = ike.start_ternd(harness, pair.a.ns, ca, label="ternd-a")
    ta.tern("initiate", "--child", "net", timeout=30)
    ike.wait_child(tb)
    flood.renice(tb.pid, NICE)
    tern = tern_bins / "tern"
    list_sas = lambda: flood.tern_list_sas_seconds(tern, tb.sock, nice=NICE)
    idle = []
    try:
        deadline = time.monotonic() + 10
        while len(idle) < 200:
            s = socket.socket(socket.AF_UNIX)
            s.setblocking(False)
            try:
                # Non-blocking: a full listen backlog (16) answers EAGAIN until ternd accepts.
                s.connect(str(tb.sock))
                idle.append(s)
            except BlockingIOError:
                s.close()
                assert time.monotonic() < deadline, f"only {len(idle)} idle clients connected in 10 s"
                time.sleep(0.005)
        wait_for(lambda: tb.tern("list-sas", check=False).returncode == 0, timeout=5,
                 what="the control socket serving beside 200 idle clients")
        quiet, quiet_daemon = [], []
        for _ in range(5):
            quiet.append(list_sas())
            quiet_daemon.append(flood.vici_list_sas_seconds(str(tb.sock)))

        fl = flood.Flood(harness, topo, rate=5000, seconds=8, label="flood-spoofed")
        wait_for(lambda: cookies_sent(tb) >= 1000, timeout=6,
                 what="the flood reaching the responder (cookies asked)")
        flooded = []
        daemon_share = []     # the same over VICI from here, without the tool's start-up
        while fl.running() and len(flooded) < 15:
            flooded.append(list_sas())
            daemon_share.append(flood.vici_list_sas_seconds(str(tb.sock)))
            time.sleep(0.1)
        sent = fl.result()
        assert len(flooded) >= 5, f"only {len(flooded)} calls during the flood"
        # The idle clients were not what made room: they are all still connected.
        for s in idle:
            try:
                assert s.recv(1) != b"", "an idle client was closed"
            except BlockingIOError:
                pass
    finally:
        for s in idle:
            s.close()
    ms = lambda xs: [round(x * 1000) for x in xs]
    report = (f"200 idle clients: tern list-sas {ms(quiet)} ms, VICI {ms(quiet_daemon)} ms; flooded at "
              f"{sent['rate']}/s: tern list-sas {ms(flooded)} ms, VICI {ms(daemon_share)} ms")
    print(report)
    assert sent["sent"] >= 0.8 * 5000 * 8, sent
    assert max(quiet_daemon) <= 0.1 and max(daemon_share) <= 0.1, report
    assert max(quiet) <= 0.3 and max(flooded) <= 0.3, report
    assert tb.alive()


def test_kernel_steers_ike_port_by_header(harness, pair, tern_bins):
    """The IKE port is a SO_REUSEPORT group the kernel steers with a BPF program on the IKE
    header: cookie-less IKE_SA_INITs (and runts) go to the flood sockets, everything an existing
    IKE SA or a returned cookie needs goes to the priority socket, whose queue a flood cannot
    fill. Each kind is sent from A and counted where ternd says it arrived."""
    ca, cb = ike.pair_confs(pair)
    tb = responder(harness, pair, cb)
    port_count = lambda sock: metric(tb, "tern_ike_port_datagrams_total", socket=sock)
    wait_for(lambda: port_count("priority") == 0 and port_count("flood") == 0, timeout=10,
             what="ternd's metrics with the IKE port counters")
    init, _ = flood.ike_sa_init_request(spi=bytes(range(1, 9)))
    # IKE_SA_INIT returning a COOKIE (RFC 7296 §2.6: the COOKIE notify is the first payload).
    notify = struct.pack("!BBHBBH", init[16], 0, 8 + 33, 0, 0, 16390) + bytes(33)
    body = notify + init[28:]
    cookie = init[:16] + struct.pack("!BBBBII", 41, 0x20, 34, 0x08, 0, 28 + len(body)) + body
    # A message of an IKE SA that does not exist: responder SPI set, IKE_AUTH, encrypted garbage.
    auth = bytes(range(1, 9)) + bytes(range(9, 17)) + struct.pack("!BBBBII", 46, 0x20, 35, 0x08, 1, 28 + 40) + bytes(40)
    kinds = [("flood", init, 3), ("priority", cookie, 2), ("priority", auth, 4), ("flood", b"\xff" * 5, 1)]
    want = {"priority": 0, "flood": 0}
    script = ("import socket, sys\n"
              "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
              "s.bind(('" + pair.a.outer4 + "', 0))\n"
              "data = bytes.fromhex(sys.argv[1]); n = int(sys.argv[2])\n"
              "for _ in range(n): s.sendto(data, ('" + pair.b.outer4 + "', 500))\n")
    for sock, data, n in kinds:
        pair.a.ns.exec([sys.executable, "-c", script, data.hex(), str(n)])
        want[sock] += n
        wait_for(lambda: port_count("priority") == want["priority"] and port_count("flood") == want["flood"],
                 timeout=10, what=f"{n} datagrams counted on the {sock} socket ({want})")
    assert tb.alive()


def test_a_second_daemon_cannot_join_the_ike_port_group(harness, pair, tern_bins):
    """The IKE port's SO_REUSEPORT group would let a second daemon of the same user join it and
    take a share of the first one's IKE traffic; ternd probes the port with a plain bind first
    and refuses to start while anything holds it."""
    _, cb = ike.pair_confs(pair)
    first = ike.start_ternd(harness, pair.b.ns, cb, label="ternd-b")
    second = harness.ternd(pair.b.ns, [], extra=["--tun", "tern9", "--udp-port", "4501"], label="ternd-b2")
    wait_for(lambda: not second.alive(), timeout=20, what="the second ternd giving up")
    assert second.popen.returncode != 0
    assert "cannot listen for IKE on UDP port 500" in second.stderr(), second.stderr()[-2000:]
    assert first.alive() and first.tern("list-conns", check=False).returncode == 0
