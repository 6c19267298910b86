"""The IKE engine waits on nothing (issue 11): a name server that never answers delays only the
connection that needs it, and NAT traversal works on non-default ports (--ike-port/--udp-port)."""
import shutil
import time
from pathlib import Path

import pytest

import ike_setups as ike
from nat import make_nat
from netns import tern_bin_dir, wait_for

pytestmark = pytest.mark.needs_ternd

# A UDP "name server" that reads every query and answers none.
SILENT_DNS = """
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[1], 53))
print("listening", flush=True)
while True:
    s.recvfrom(4096)
"""


@pytest.fixture
def silent_resolver(harness, pair):
    """Host A's resolv.conf (through ip netns exec's /etc/netns/NAME/) names a server in A that
    drops every query, with 5 s x 2 tries: a lookup there takes about 10 s and then fails."""
    ns = pair.a.ns
    ns.add_addr("lo", "192.0.2.53/32")
    etc = Path("/etc/netns") / ns.name
    etc.mkdir(parents=True, exist_ok=True)
    (etc / "resolv.conf").write_text("nameserver 192.0.2.53\noptions timeout:5 attempts:2\n")
    script = harness.artifacts / "silent_dns.py"
    script.write_text(SILENT_DNS)
    server = harness.spawn("silent-dns", ns.cmd(["python3", str(script), "192.0.2.53"]))
    server.wait_output("listening")
    yield
    server.stop()
    shutil.rmtree(etc, ignore_errors=True)


def test_unanswered_name_lookup_delays_no_other_connection(harness, pair, silent_resolver, tern_bins):
    a, b = pair.a, pair.b
    ca, cb = ike.pair_confs(pair)
    slow = ike.conn("slow", local_addr=a.outer4, remote_addr="gw-b.tern-test.example", local_id="a.example.com",
                    remote_id="b.example.com", local_ts=a.inner4 + "/32", remote_ts=b.inner4 + "/32", child="slow", psk=None)
    ta = ike.start_ternd(harness, a.ns, merge_connections(ca, slow), label="ternd-a")
    ike.start_ternd(harness, b.ns, cb, label="ternd-b")
    stalled = harness.spawn("initiate-slow", [str(tern_bin_dir() / "tern"), "--vici", str(ta.sock), "initiate", "--child", "slow"])
    wait_for(lambda: "name lookup of 'gw-b.tern-test.example'" in ta.stderr(), what="the slow initiation waits for its lookup")
    t0 = time.monotonic()
    out = ta.tern("initiate", "--child", "net", timeout=30).stdout.decode()
    took = time.monotonic() - t0
    assert "successfully" in out, out
    assert took < 1.0, f"the second connection waited {took:.2f} s behind the unanswered lookup"
    a.ns.ping(b.inner4, src=a.inner4, count=2)
    # The stalled one fails with the resolver's reason once it gives up (about 10 s).
    wait_for(lambda: "cannot resolve remote_addrs" in ta.stderr(), timeout=40, what="the stalled initiation fails")
    line = next(l for l in ta.stderr().splitlines() if "cannot resolve remote_addrs" in l)
    assert "gw-b.tern-test.example" in line, line
    stalled.wait(timeout=30)
    assert "failed" in stalled.stdout() + stalled.stderr(), stalled.describe()


def merge_connections(first: str, second: str) -> str:
    """One swanctl.conf with the connections of both texts (secrets of the first)."""
    body = second.split("connections {", 1)[1]
    inner = body[:body.index("\n}\n")]
    return first.replace("connections {", "connections {" + inner, 1)


def test_nat_traversal_on_non_default_ports(harness, tern_bins):
    nat = make_nat(harness)
    left, right = nat.left, nat.right
    ports = ["--ike-port", "1500", "--udp-port", "14500"]
    conf_l = ike.conn("to-right", local_addr=left.outer, remote_addr=right.outer, local_id="left.example.com",
                      remote_id="right.example.com", local_ts=left.inner + "/32", remote_ts=right.inner + "/32",
                      conn_extra="remote_port = 1500")
    conf_r = ike.conn("to-left", local_addr=right.outer, remote_addr="%any", local_id="right.example.com",
                      remote_id="left.example.com", local_ts=right.inner + "/32", remote_ts=left.inner + "/32")
    tr = ike.start_ternd(harness, right.ns, conf_r, label="ternd-right", extra=ports)
    tl = ike.start_ternd(harness, left.ns, conf_l, label="ternd-left", extra=ports)
    tl.tern("initiate", "--child", "net", timeout=30)
    ike.wait_child(tl)
    ike.wait_child(tr)
    sa_l, sa_r = ike.list_sas(tl)[0], ike.list_sas(tr)[0]
    assert sa_l.get("nat-local") == "yes" and sa_r.get("nat-remote") == "yes", (sa_l, sa_r)
    assert sa_l["local-port"] == "14500" and sa_l["remote-port"] == "14500", sa_l
    assert sa_r["local-port"] == "14500", sa_r
    assert ike.child(tl).get("encap") == "yes"
    left.ns.ping(right.inner, src=left.inner, count=3)
    right.ns.ping(left.inner, src=right.inner, count=3)
    # Nothing went to the default ports.
    assert "4500" not in (sa_l["remote-port"], sa_r["remote-port"])
