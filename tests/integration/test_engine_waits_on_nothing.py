"""The IKE engine waits on nothing (issue 11): a name server that never answers delays only the
connection that needs it, and NAT traversal works on non-default ports (--ike-port/--udp-port)."""
import os
import re
import shutil
import time
from pathlib import Path

import pytest

import ike_setups as ike
from cert_setups import PkiStore, SideDir, gw_conf, launch
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
    net_comes_up_at_once(ta, pair, behind="unanswered lookup")
    # The stalled one fails with the resolver's reason once it gives up (about 10 s).
    wait_for(lambda: "cannot resolve remote_addrs" in ta.stderr(), timeout=40, what="the stalled initiation fails")
    line = next(l for l in ta.stderr().splitlines() if "cannot resolve remote_addrs" in l)
    assert "gw-b.tern-test.example" in line, line
    stalled.wait(timeout=30)
    assert "failed" in stalled.stdout() + stalled.stderr(), stalled.describe()


def net_comes_up_at_once(ta, pair, *, behind: str):
    """`tern initiate --child net` on A succeeds well within a second, and traffic flows."""
    t0 = time.monotonic()
    out = ta.tern("initiate", "--child", "net", timeout=30).stdout.decode()
    took = time.monotonic() - t0
    assert "successfully" in out, out
    assert took < 1.0, f"connection net waited {took:.2f} s behind the {behind}"
    pair.a.ns.ping(pair.b.inner4, src=pair.a.inner4, count=2)


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


@pytest.fixture(scope="module")
def pki(tmp_path_factory, tern_bins):
    return PkiStore(tmp_path_factory.mktemp("waits-pki"), tern_bins / "tern")


def test_slow_crl_read_delays_no_other_connection(harness, pair, pki, tern_bins):
    """B checks A's certificate against the CRL its authority names (crl_uris = file://…,
    revocation = strict), and that read takes 10 s (ternd's test hook TERN_TEST_LOOKUP_DELAY: a
    FIFO no one writes is refused at once as not a regular file, so it cannot make a read hang).
    A's certificate connection waits in IKE_AUTH for the CRL; a PSK connection between the same
    hosts comes up well within a second meanwhile, and the certificate one comes up after."""
    a, b = pair.a, pair.b
    root = pki.root("tern", "ecdsa256")
    leaf_a, leaf_b = pki.leaf("tern", root, "ecdsa256", "a"), pki.leaf("tern", root, "ecdsa256", "b")
    other = pki.leaf("tern", root, "ecdsa256", "a", tag="other-revoked")
    crl = pki.crl("tern", root, [other], outform="pem")
    # The certificate connections get a CHILD of their own (another selector) beside the PSK one.
    cert_a = gw_conf("a", "gateway-a.example.com", "gateway-b.example.com", child="certnet").replace(
        "remote_ts = 198.51.100.1/32", "remote_ts = 198.51.100.77/32")
    cert_b = gw_conf("b", "gateway-b.example.com", "gateway-a.example.com", child="certnet",
                     remote_extra="revocation = strict").replace("local_ts = 198.51.100.1/32", "local_ts = 198.51.100.77/32")
    ca, cb = ike.pair_confs(pair)
    authorities = (f"authorities {{\n    test-root {{\n        cacert = root.pem\n"
                   f"        crl_uris = file://{crl}\n    }}\n}}\n")
    side_a = (SideDir(harness.artifacts / "conf-a", merge_connections(ca, cert_a))
              .cert((leaf_a.cert, "gw-cert.pem")).ca((root.cert, "root.pem")).key(leaf_a.key)).write()
    side_b = (SideDir(harness.artifacts / "conf-b", merge_connections(cb, cert_b) + authorities)
              .cert((leaf_b.cert, "gw-cert.pem")).ca((root.cert, "root.pem")).key(leaf_b.key)).write()
    tb = harness.ternd(b.ns, [], extra=["--conf", str(side_b.conf_path), "--retransmit-timeout", "2"],
                       label="ternd-b", env={"TERN_TEST_LOOKUP_DELAY": "file:10"})
    tb.wait_ready()
    ta = harness.ternd(a.ns, [], extra=["--conf", str(side_a.conf_path), "--retransmit-timeout", "2"], label="ternd-a")
    ta.wait_ready()
    stalled = harness.spawn("initiate-certnet", [str(tern_bin_dir() / "tern"), "--vici", str(ta.sock),
                                                 "initiate", "--child", "certnet"])
    t_stalled = time.monotonic()
    wait_for(lambda: re.search(r"lookup \d+: CRL fetch of file://", tb.stderr()), timeout=15,
             what="B asking for the CRL to check A's certificate")
    net_comes_up_at_once(ta, pair, behind="CRL read")
    assert not ike.child(tb, "certnet"), "the certificate connection came up before its CRL was read"
    # A retransmits its IKE_AUTH (2 s, 3.6 s, 6.5 s: beyond the 10 s) until B has the CRL and answers.
    stalled.wait(timeout=40)
    waited = time.monotonic() - t_stalled
    assert ike.child(ta, "certnet") and ike.child(tb, "certnet"), stalled.describe() + tb.describe()
    assert waited >= 9, f"the CRL read was not delayed ({waited:.1f} s): the test proves nothing"
    assert ike.child(ta, "net"), "the PSK connection went down"


def test_slow_source_address_lookup_delays_no_other_connection(harness, pair, tern_bins):
    """A connection with local_addrs = %any needs the source address toward its peer (a route
    lookup) before it can initiate. Such a lookup is immediate in a namespace, so ternd's test
    hook TERN_TEST_LOOKUP_DELAY holds every route lookup for 10 s: a connection with a literal
    local address comes up well within a second meanwhile, and the slow one comes up after."""
    a, b = pair.a, pair.b
    ca, cb = ike.pair_confs(pair)
    anywhere = ike.conn("anywhere", local_addr="%any", remote_addr=b.outer4, local_id="a.example.com",
                        remote_id="b.example.com", local_ts=a.inner4 + "/32", remote_ts="198.51.100.78/32",
                        child="anywhere", psk=None)
    # B knows both as children of one connection (it picks its connection by the identities).
    b_child = f"""            anywhere {{
                local_ts = 198.51.100.78/32
                remote_ts = {a.inner4}/32
                esp_proposals = aes256gcm16
            }}
"""
    ta = ike.start_ternd(harness, a.ns, merge_connections(ca, anywhere), label="ternd-a",
                         env={"TERN_TEST_LOOKUP_DELAY": "route:10"})
    tb = ike.start_ternd(harness, b.ns, cb.replace("        children {\n", "        children {\n" + b_child, 1), label="ternd-b")
    stalled = harness.spawn("initiate-anywhere", [str(tern_bin_dir() / "tern"), "--vici", str(ta.sock),
                                                  "initiate", "--child", "anywhere"])
    t_stalled = time.monotonic()
    wait_for(lambda: re.search(r"lookup \d+: source address", ta.stderr()), timeout=5,
             what="the initiation asking for its route lookup")
    assert stalled.alive(), f"the initiation did not wait for the delayed route lookup: {stalled.describe()}"
    net_comes_up_at_once(ta, pair, behind="route lookup")
    stalled.wait(timeout=40)
    waited = time.monotonic() - t_stalled
    assert ike.child(ta, "anywhere") and ike.child(tb, "anywhere"), stalled.describe()
    assert waited >= 9, f"the route lookup was not delayed ({waited:.1f} s): the test proves nothing"
