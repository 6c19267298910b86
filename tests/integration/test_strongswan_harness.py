"""Proves the strongSwan harness: charon <-> charon (PSK, AES-256-GCM, X25519) across two namespaces,
directly and through the NAT topology. 5.9.8's kernel-libipsec always uses ESP-in-UDP."""
from __future__ import annotations

import secrets

import pytest

from ike_keylog import PAYLOAD, charon_keys, decrypt_ike, read_keylog, write_keylog
from nat import NatTopology
from netns import Capture, wait_for
from strongswan import psk_config

IKE = "aes256gcm16-prfsha256-x25519"
ESP = "aes256gcm16"


def _configs(left_addr, right_addr, left_ts, right_ts, *, left_behind_nat=False, conn_extra=None):
    """Left initiates; behind a NAT right accepts it from any address (ids stay the addresses)."""
    psk = secrets.token_hex(16)
    left = psk_config("tt", local_addr=left_addr, remote_addr=right_addr, local_ts=left_ts, remote_ts=right_ts,
                      psk=psk, ike_proposals=IKE, esp_proposals=ESP, conn_extra=conn_extra)
    right = psk_config("tt", local_addr=right_addr, remote_addr="%any" if left_behind_nat else left_addr,
                       remote_id=left_addr, local_ts=right_ts, remote_ts=left_ts, psk=psk, ike_proposals=IKE,
                       esp_proposals=ESP, conn_extra=conn_extra)
    return left, right


def _wait_counters(ch, name, *, packets_in: int, packets_out: int, timeout: float = 10) -> dict:
    def pred():
        c = ch.child_counters(name)
        return c if c["packets_in"] >= packets_in and c["packets_out"] >= packets_out else None
    return wait_for(pred, timeout=timeout, what=f"{ch.label}: {name} counters >= {packets_in}/{packets_out}",
                    diag=lambda: ch.swanctl("--list-sas", check=False))


def test_charon_pair_psk_ping_and_child_rekey(harness, pair, start_charon):
    a, b = pair.a, pair.b
    conf_a, conf_b = _configs(a.outer4, b.outer4, a.inner4 + "/32", b.inner4 + "/32")
    ca = start_charon(a.ns, conf_a)
    cb = start_charon(b.ns, conf_b)
    ca.initiate(child="net")
    child_a = ca.wait_for_child("net")
    child_b = cb.wait_for_child("net")
    assert (child_a["spi-in"], child_a["spi-out"]) == (child_b["spi-out"], child_b["spi-in"])
    assert child_a["encr-alg"] == "AES_GCM_16" and child_a["encr-keysize"] == "256", child_a
    assert child_a.get("encap") == "yes", child_a   # kernel-libipsec forces ESP-in-UDP
    ike = ca.wait_for_ike("tt")
    # No real NAT: each side fakes its NAT-D hash, so each sees "nat-remote" and none "nat-local".
    assert ike["remote-port"] == "4500" and ike.get("nat-remote") == "yes" and "nat-local" not in ike, ike
    ike_b = cb.wait_for_ike("tt")
    assert ike_b.get("nat-remote") == "yes" and "nat-local" not in ike_b, ike_b
    assert ike["encr-alg"] == "AES_GCM_16" and ike["dh-group"] == "CURVE_25519", ike

    a.ns.ping(b.inner4, src=a.inner4, count=3)
    b.ns.ping(a.inner4, src=b.inner4, count=3)
    # Each side sent 6 and received 6 ESP packets (3 requests + 3 replies each way).
    _wait_counters(ca, "net", packets_in=6, packets_out=6)
    cnt_b = _wait_counters(cb, "net", packets_in=6, packets_out=6)
    assert cnt_b["bytes_in"] >= 6 * 84, cnt_b

    # CHILD rekey from B while A pings: no loss, new SPIs, the new SA carries the traffic.
    pinger = harness.spawn("ping-a", a.ns.cmd(["ping", "-n", "-i", "0.05", "-c", "60", "-W", "2", "-I", a.inner4,
                                               b.inner4]))
    wait_for(lambda: ca.child_counters("net")["packets_out"] >= 10, what="ping through the tunnel before the rekey")
    cb.swanctl("--rekey", "--child", "net")
    wait_for(lambda: any(c["spi-in"] != child_a["spi-in"] for c in ca.children("net", "INSTALLED")),
             what="new CHILD SA on A", diag=lambda: ca.describe())
    assert pinger.wait(timeout=20) == 0, pinger.describe()
    out = pinger.stdout()
    assert " 0% packet loss" in out, out
    new = ca.wait_for_child("net")
    assert new["spi-in"] != child_a["spi-in"], new
    assert ca.child_counters("net")["packets_out"] >= 1
    assert len(ca.wait_for_ike("tt")["child-sas"]) >= 1

    ca.stop()
    cb.stop()
    assert not ca.mounts_left() and not cb.mounts_left()


def test_charon_pair_through_nat_and_rebinding(harness, nat, start_charon):
    left, right = nat.left, nat.right
    # Without MOBIKE the responder moves to the address/port of any authenticated request
    # (RFC 7296 2.23); with MOBIKE charon waits for the initiator's UPDATE_SA_ADDRESSES.
    conf_l, conf_r = _configs(left.outer, right.outer, left.inner_net, right.inner_net, left_behind_nat=True,
                              conn_extra={"mobike": False})
    cl = start_charon(left.ns, conf_l)
    cr = start_charon(right.ns, conf_r)
    cl.initiate(child="net")
    ike_l = cl.wait_for_ike("tt")
    ike_r = cr.wait_for_ike("tt")
    # IKE floated to 4500; the real NAT is seen as such (nat-local on the host behind it).
    assert ike_l["local-port"] == "4500" and ike_l["remote-port"] == "4500", ike_l
    assert ike_l.get("nat-local") == "yes", ike_l
    assert ike_r.get("nat-remote") == "yes" and "nat-local" not in ike_r, ike_r
    public = nat.public_endpoint(4500)
    assert public is not None and public[0] == nat.public_addr, nat.mappings()
    assert (ike_r["remote-host"], int(ike_r["remote-port"])) == public, (ike_r, public)
    assert nat.ports[0] <= public[1] <= nat.ports[1], public

    cl.wait_for_child("net")
    left.ns.ping(right.inner, src=left.inner, count=3)
    right.ns.ping(left.inner, src=right.inner, count=3)
    _wait_counters(cr, "net", packets_in=6, packets_out=6)

    # NAT rebinding: new public port and address. The responder learns it from the next
    # authenticated IKE message from left (here a CHILD rekey), then traffic flows again.
    nat.remap(address=NatTopology.PUBLIC_ADDRS[1])
    cl.swanctl("--rekey", "--child", "net")

    def moved():
        sa = cr.wait_for_ike("tt")
        return sa if sa["remote-host"] == nat.public_addr and int(sa["remote-port"]) != public[1] else None
    ike_r2 = wait_for(moved, timeout=15, what="responder follows the NAT rebinding", diag=cr.describe)
    assert (ike_r2["remote-host"], int(ike_r2["remote-port"])) == nat.public_endpoint(4500), nat.mappings()
    right.ns.ping(left.inner, src=right.inner, count=3)
    left.ns.ping(right.inner, src=left.inner, count=3)


@pytest.mark.parametrize("ike_proposals,encr,integ", [
    ("aes256gcm16-prfsha256-x25519", "AES-GCM-256 with 16 octet ICV [RFC5282]", "NONE [RFC4306]"),
    ("aes128-sha256-x25519", "AES-CBC-128 [RFC3602]", "HMAC_SHA2_256_128 [RFC4868]"),
], ids=["gcm256", "cbc128-sha256"])
def test_tshark_decrypts_charon_ike_with_keylog(harness, pair, start_charon, ike_proposals, encr, integ):
    """Keys from charon's `ike 4` log -> JSON key log -> tshark decrypts and verifies every IKE message."""
    a, b = pair.a, pair.b
    psk = secrets.token_hex(16)
    ca = start_charon(a.ns, psk_config("tt", local_addr=a.outer4, remote_addr=b.outer4, local_ts=a.inner4 + "/32",
                                       remote_ts=b.inner4 + "/32", psk=psk, ike_proposals=ike_proposals),
                      debug="ike 4, knl 1, cfg 1, net 1")
    cb = start_charon(b.ns, psk_config("tt", local_addr=b.outer4, remote_addr=a.outer4, local_ts=b.inner4 + "/32",
                                       remote_ts=a.inner4 + "/32", psk=psk, ike_proposals=ike_proposals))
    cap = Capture(harness, b.ns, "veth0", "udp port 500 or udp port 4500")
    ca.initiate(child="net")
    old = ca.wait_for_child("net")
    ca.rekey(child="net")
    wait_for(lambda: any(c["spi-in"] != old["spi-in"] for c in ca.children("net", "INSTALLED")),
             what="CHILD rekey done", diag=ca.describe)
    sas = ca.list_sas()
    entries = charon_keys(ca.log(), sas)
    assert len(entries) == 1, entries
    e = entries[0]
    assert (e["ispi"], e["rspi"]) == (sas[0]["initiator-spi"], sas[0]["responder-spi"])
    assert (e["encr"], e["integ"]) == (encr, integ), e
    keylog = harness.artifacts / "ike-keys.jsonl"
    write_keylog(keylog, entries)
    assert read_keylog(keylog) == entries
    # IKE_SA_INIT x2, IKE_AUTH x2, CREATE_CHILD_SA x2, INFORMATIONAL (delete) x2.
    pcap = cap.stop(expect=8)

    pkts = decrypt_ike(pcap, read_keylog(keylog))
    by_exchange = {}
    for p in pkts:
        by_exchange.setdefault((p.exchange_name, p.response), []).append(p)
        if p.encrypted:
            assert p.decrypted and p.icv_ok is True, p
    init_req = by_exchange[("IKE_SA_INIT", False)][0]
    assert not init_req.encrypted and {PAYLOAD["SA"], PAYLOAD["KE"], PAYLOAD["Nonce"]} <= set(init_req.payloads)
    auth_req = by_exchange[("IKE_AUTH", False)][0]
    assert {PAYLOAD[x] for x in ("IDi", "AUTH", "SA", "TSi", "TSr")} <= set(auth_req.payloads), auth_req
    auth_resp = by_exchange[("IKE_AUTH", True)][0]
    assert {PAYLOAD[x] for x in ("IDr", "AUTH", "SA", "TSi", "TSr")} <= set(auth_resp.payloads), auth_resp
    rekey = by_exchange[("CREATE_CHILD_SA", False)][0]
    assert {PAYLOAD[x] for x in ("SA", "Nonce", "TSi", "TSr")} <= set(rekey.payloads), rekey
    assert 16393 in rekey.notify_types   # REKEY_SA
    assert any(PAYLOAD["D"] in p.payloads for p in by_exchange[("INFORMATIONAL", False)])

    # The referee can say no: a wrong integrity key makes every initiator message fail its check.
    wrong = dict(e)
    key = "sk_ai" if e["sk_ai"] else "sk_ei"
    wrong[key] = ("0" if e[key][0] != "0" else "1") + e[key][1:]
    bad = [p for p in decrypt_ike(pcap, [wrong]) if p.encrypted and p.from_initiator]
    assert bad and all(p.icv_ok is False for p in bad), bad
