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


def test_transport_mode_host_to_host(harness, pair, tern_bins):
    """Type 3 (host-to-host): transport mode between the underlay addresses, dynamic selectors."""
    a, b = pair.a, pair.b
    ca = ike.conn("to-b", local_addr=a.outer4, remote_addr=b.outer4, local_id=a.outer4, remote_id=b.outer4,
                  local_ts="dynamic", remote_ts="dynamic", child_extra="mode = transport")
    cb = ike.conn("to-a", local_addr=b.outer4, remote_addr=a.outer4, local_id=b.outer4, remote_id=a.outer4,
                  local_ts="dynamic", remote_ts="dynamic", child_extra="mode = transport")
    tb = ike.start_ternd(harness, b.ns, cb, label="ternd-b")
    ta = ike.start_ternd(harness, a.ns, ca, label="ternd-a")
    ta.tern("initiate", "--child", "net", timeout=30)
    c = ike.wait_child(ta)
    assert c["mode"] == "TRANSPORT" and c["local-ts"] == [a.outer4 + "/32"], c
    # The IKE traffic itself must not be caught by the host-to-host policy: a rekey still works.
    tcp_transfer(harness, b.ns, b.outer4, a.ns, a.outer4, nbytes=XFER_BYTES)
    ta.tern("rekey", "--child", "net")
    wait_for(lambda: (ike.child(ta) or {}).get("spi-in") not in (None, c["spi-in"]), what="transport CHILD SA rekeyed")
    a.ns.ping(b.outer4, count=3)
    assert int(ike.child(tb)["packets-in"]) >= 3


def test_sighup_reloads_swanctl_conf_and_keeps_running_sas(harness, pair, ike_pair):
    ta, tb = ike_pair()
    ta.tern("initiate", "--child", "net", timeout=30)
    before = ike.wait_child(ta)
    conf = next(harness.artifacts.glob("*ternd-a.swanctl.conf"))
    text = conf.read_text().replace("start_action = none", "start_action = none\n                rekey_time = 2h")
    conf.write_text(text)
    ta.send_signal(1)   # SIGHUP
    wait_for(lambda: "reloaded" in ta.stderr(), what="reload logged")
    assert ike.child(ta)["spi-in"] == before["spi-in"]
    pair.a.ns.ping(pair.b.inner4, src=pair.a.inner4, count=2)
    # A broken file is refused and the running configuration stays.
    conf.write_text(text.replace("esp_proposals", "esp_proposalz"))
    ta.send_signal(1)
    wait_for(lambda: "reload failed" in ta.stderr(), what="reload refused")
    assert "esp_proposalz" in ta.stderr() and ike.child(ta)["spi-in"] == before["spi-in"]


def test_no_key_material_in_logs(harness, pair, ike_pair):
    ta, tb = ike_pair()
    ta.tern("initiate", "--child", "net", timeout=30)
    ike.wait_child(ta)
    ta.tern("rekey", "--ike", "to-b")
    wait_for(lambda: len(ike.tern_keylog(ta.keylog)) >= 2, what="second IKE SA keyed")
    logs = ta.stderr() + tb.stderr() + ta.stdout() + tb.stdout()
    assert ike.PSK not in logs
    for e in ike.tern_keylog(ta.keylog):
        for k in ("sk_ei", "sk_er"):
            assert e[k] not in logs.lower(), f"{k} appears in a log"


def test_zero_lifetimes_mean_never_rekey_and_list_fine(harness, pair, ike_pair):
    """rekey_time = 0 / life_time = 0 (strongSwan: never) once made list-sas and the VICI
    events convert an infinite timer to an integer and abort the daemon."""
    ta, tb = ike_pair(conn_extra="rekey_time = 0", child_extra="rekey_time = 0\n                life_time = 0")
    ta.tern("initiate", "--child", "net", timeout=30)
    ca, cb = ike.wait_child(ta), ike.wait_child(tb)
    assert "rekey-time" not in ca and "life-time" not in ca, ca
    sa = ike.list_sas(ta)[0]
    assert "rekey-time" not in sa, sa
    pair.a.ns.ping(pair.b.inner4, src=pair.a.inner4, count=3)
    assert ta.alive() and tb.alive()
