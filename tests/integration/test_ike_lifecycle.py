"""IKE lifecycle against a real peer: rekeys from both sides under a 100 packets/s ping with zero
loss, dead peer detection and restart, ternd <-> ternd behind a masquerading NAT (and the NAT
forgetting its mapping), and tshark decrypting Tern's IKE_AUTH from the test key log."""
import os
import signal
import time

import pytest

import ike_setups as ike
from ike_keylog import PAYLOAD, decrypt_ike
from nat import make_nat
from netns import Capture, wait_for
from test_ike_strongswan import setup

pytestmark = pytest.mark.needs_ternd


def new_spi(get, old: str, what: str, timeout: float = 15) -> str:
    return wait_for(lambda: (lambda c: c["spi-in"] if c and c["spi-in"] != old else None)(get()), timeout=timeout, what=what)


@pytest.mark.parametrize("tern_initiates", [True, False], ids=["tern-initiator", "tern-responder"])
def test_rekeys_from_both_sides_lose_nothing(harness, pair, start_charon, tern_bins, tern_initiates):
    ta, cb = setup(harness, pair, start_charon, tern_initiates=tern_initiates,
                   proposals="aes256gcm16-prfsha256-x25519", esp="aes256gcm16")
    ike.wait_child(ta)
    cb.wait_for_child("net")
    a, b = pair.a, pair.b
    ping = ike.Pinger(harness, a.ns, a.inner4, b.inner4, count=1500)   # 15 s at 100/s
    spi = ike.child(ta)["spi-in"]
    for who in ("tern", "charon", "tern", "charon"):
        time.sleep(1.5)   # let traffic run on the current SA between rekeys
        if who == "tern":
            ta.tern("rekey", "--child", "net")
        else:
            cb.rekey(child="net")
        spi = new_spi(lambda: ike.child(ta), spi, f"CHILD rekey by {who}")
    for who in ("tern", "charon"):
        time.sleep(1.5)
        old = ike.list_sas(ta)[0]["initiator-spi"]
        if who == "tern":
            ta.tern("rekey", "--ike", "to-b")
        else:
            cb.rekey(ike="to-a")
        wait_for(lambda: [s for s in ike.list_sas(ta) if s["initiator-spi"] != old and s["state"] == "ESTABLISHED"
                          and s.get("child-sas")] and len(ike.list_sas(ta)) == 1, what=f"IKE rekey by {who}")
    sent, received = ping.result()
    assert sent == 1500 and received == sent, f"lost {sent - received} of {sent} packets across rekeys"
    assert len(ike.list_sas(ta)) == 1 and ike.child(ta)


def test_dead_peer_detected_and_restarted(harness, pair, start_charon, tern_bins):
    ta, cb = setup(harness, pair, start_charon, tern_initiates=True, proposals="aes256gcm16-prfsha256-x25519",
                   esp="aes256gcm16", tern_extra="dpd_delay = 2s\n        dpd_timeout = 4s\n        keyingtries = 0",
                   dpd_action="restart")
    ike.wait_child(ta)
    # The peer dies without a word (no DELETE): only DPD can notice.
    os.kill(cb.pid, signal.SIGKILL)
    cb.stop()
    t0 = time.monotonic()
    wait_for(lambda: "is dead" in ta.stderr(), timeout=20, what="ternd notices the dead peer")
    assert time.monotonic() - t0 <= 2 + 4 + 2, "DPD took longer than dpd_delay + dpd_timeout"
    # The peer returns: dpd_action = restart (keyingtries = 0) brings the tunnel back.
    cb2 = start_charon(pair.b.ns, cb.swanctl_text)
    ike.wait_child(ta, timeout=40)
    cb2.wait_for_child("net", timeout=20)
    pair.a.ns.ping(pair.b.inner4, src=pair.a.inner4, count=3)


def test_ternd_pair_through_masquerade_nat(harness, tern_bins):
    nat = make_nat(harness)
    left, right = nat.left, nat.right
    conf_l = ike.conn("to-right", local_addr=left.outer, remote_addr=right.outer, local_id="left.example.com",
                      remote_id="right.example.com", local_ts=left.inner + "/32", remote_ts=right.inner + "/32",
                      conn_extra="dpd_delay = 2s")
    conf_r = ike.conn("to-left", local_addr=right.outer, remote_addr="%any", local_id="right.example.com",
                      remote_id="left.example.com", local_ts=right.inner + "/32", remote_ts=left.inner + "/32")
    tr = ike.start_ternd(harness, right.ns, conf_r, label="ternd-right")
    tl = ike.start_ternd(harness, left.ns, conf_l, label="ternd-left")
    tl.tern("initiate", "--child", "net", timeout=30)
    ike.wait_child(tl)
    ike.wait_child(tr)
    sa_l, sa_r = ike.list_sas(tl)[0], ike.list_sas(tr)[0]
    assert sa_l.get("nat-local") == "yes" and sa_r.get("nat-remote") == "yes", (sa_l, sa_r)
    assert sa_l["remote-port"] == "4500" and ike.child(tl).get("encap") == "yes"
    left.ns.ping(right.inner, src=left.inner, count=3)
    right.ns.ping(left.inner, src=right.inner, count=3)
    # The NAT forgets the mapping; the next protected message (DPD every 2 s) moves the peer.
    before = sa_r["remote-port"]
    nat.remap()
    wait_for(lambda: ike.list_sas(tr)[0]["remote-port"] != before, timeout=15, what="responder follows the new NAT mapping")
    ping = ike.Pinger(harness, right.ns, right.inner, left.inner, count=100)
    sent, received = ping.result()
    assert received == sent, f"lost {sent - received} after the NAT mapping changed"


def test_tshark_decrypts_ike_auth_with_the_key_log(harness, pair, tern_bins):
    ca, cb = ike.pair_confs(pair, proposals="aes128-sha256-x25519", esp="aes128-sha256")
    tb = ike.start_ternd(harness, pair.b.ns, cb, label="ternd-b")
    ta = ike.start_ternd(harness, pair.a.ns, ca, label="ternd-a", keylog=True)
    cap = Capture(harness, pair.b.ns, "veth0", "udp port 500 or udp port 4500")
    ta.tern("initiate", "--child", "net", timeout=30)
    ike.wait_child(ta)
    pcap = cap.stop(expect=4)
    packets = decrypt_ike(pcap, ike.tern_keylog(ta.keylog))
    auth = [p for p in packets if p.exchange_name == "IKE_AUTH"]
    assert len(auth) == 2, packets
    for p in auth:
        assert p.decrypted and p.icv_ok, p
    req = [p for p in auth if not p.response][0]
    assert PAYLOAD["IDi"] in req.payloads and PAYLOAD["AUTH"] in req.payloads and PAYLOAD["TSi"] in req.payloads, req


def test_ternd_behind_nat_with_strongswan(harness, start_charon, tern_bins):
    """NAT-T against strongSwan: ternd on the left, behind the masquerading router, initiates to charon."""
    from strongswan import psk_config
    nat = make_nat(harness)
    left, right = nat.left, nat.right
    conf_l = ike.conn("to-right", local_addr=left.outer, remote_addr=right.outer, local_id="left.example.com",
                      remote_id="right.example.com", local_ts=left.inner + "/32", remote_ts=right.inner + "/32")
    conf_r = psk_config("to-left", local_addr=right.outer, remote_addr="%any", local_id="right.example.com",
                        remote_id="left.example.com", local_ts=right.inner + "/32", remote_ts=left.inner + "/32",
                        psk=ike.PSK, ike_proposals="aes256gcm16-prfsha256-x25519", esp_proposals="aes256gcm16",
                        conn_extra={"mobike": "no"})
    cr = start_charon(right.ns, conf_r)
    tl = ike.start_ternd(harness, left.ns, conf_l, label="ternd-left")
    tl.tern("initiate", "--child", "net", timeout=30)
    ike.wait_child(tl)
    cr.wait_for_child("net")
    sa = ike.list_sas(tl)[0]
    assert sa.get("nat-local") == "yes" and sa["remote-port"] == "4500", sa
    ping = ike.Pinger(harness, left.ns, left.inner, right.inner, count=50)
    sent, received = ping.result()
    assert received == sent, f"lost {sent - received}"
    right.ns.ping(left.inner, src=right.inner, count=3)
