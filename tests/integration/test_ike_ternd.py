"""IKEv2 between two ternd across namespaces: PSK tunnel up, traffic, listing, rekeys, deletes."""
import pytest

import ike_setups as ike
from checks import XFER_BYTES
from netns import tcp_transfer, wait_for

pytestmark = pytest.mark.needs_ternd


@pytest.fixture
def ike_pair(harness, pair, tern_bins):
    def start(**kw):
        ca, cb = ike.pair_confs(pair, **kw)
        tb = ike.start_ternd(harness, pair.b.ns, cb, label="ternd-b")
        ta = ike.start_ternd(harness, pair.a.ns, ca, label="ternd-a", keylog=True)
        return ta, tb
    return start


def test_psk_tunnel_up_traffic_and_listing(harness, pair, ike_pair):
    ta, tb = ike_pair()
    out = ta.tern("initiate", "--child", "net", timeout=30).stdout.decode()
    assert "successfully" in out
    ca, cb = ike.wait_child(ta), ike.wait_child(tb)
    assert ca["spi-in"] == cb["spi-out"] and ca["spi-out"] == cb["spi-in"]
    assert ca["encr-alg"] == "AES_GCM_16" and ca["encr-keysize"] == "256"
    pair.a.ns.ping(pair.b.inner4, src=pair.a.inner4, count=5)
    pair.b.ns.ping(pair.a.inner4, src=pair.b.inner4, count=5)
    tcp_transfer(harness, pair.a.ns, pair.a.inner4, pair.b.ns, pair.b.inner4, nbytes=XFER_BYTES)
    c = ike.child(ta)
    assert int(c["packets-out"]) >= 10 and int(c["bytes-out"]) >= XFER_BYTES
    sa = ike.list_sas(ta)[0]
    assert sa["state"] == "ESTABLISHED" and sa["remote-id"] == "b.example.com" and sa["initiator"] == "yes"
    text = ta.tern("list-sas").stdout.decode()
    assert "to-b: #" in text and "ESTABLISHED" in text and "203.0.113.1/32" in text, text
    ta.tern("terminate", "--ike", "to-b")
    ike.wait_no_sas(ta)
    ike.wait_no_sas(tb)
    # Without SAs the inner traffic no longer flows.
    assert pair.a.ns.ping(pair.b.inner4, src=pair.a.inner4, count=1, check=False).returncode != 0


def test_trap_policy_negotiates_on_first_packet_and_holds_it(harness, pair, tern_bins):
    ca, cb = ike.pair_confs(pair, start_action="trap")
    tb = ike.start_ternd(harness, pair.b.ns, cb, label="ternd-b")
    ta = ike.start_ternd(harness, pair.a.ns, ca, label="ternd-a")
    # Before any traffic: a trap policy, no SA.
    wait_for(lambda: any(p.get("acquire") for p in ta.state()["policies"]), what="trap policy installed")
    assert not ike.list_sas(ta)
    # The first ping triggers the negotiation; its packet is held, then sent: no loss at all.
    out = pair.a.ns.ping(pair.b.inner4, src=pair.a.inner4, count=3).stdout.decode()
    assert " 0% packet loss" in out, out
    assert ike.child(ta) and ike.child(tb)
    drops = ta.state()["drops"]
    assert not drops.get("no_sa") and not drops.get("hold_discarded"), drops
