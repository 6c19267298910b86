"""IKEv2 interop with strongSwan 5.9.8 (charon + kernel-libipsec) as the peer, Tern in both roles,
for each ESP family and key-exchange family: tunnel up, ping and TCP both ways.

5.9.8's kernel-libipsec fakes a NAT, so every one of these runs NAT-T: IKE floats to 4500 and ESP
travels in UDP (RFC 3948)."""
import pytest

import ike_setups as ike
from checks import XFER_BYTES
from netns import tcp_transfer, wait_for
from strongswan import psk_config

pytestmark = pytest.mark.needs_ternd

FAMILIES = [
    ("aes256gcm16-prfsha256-x25519", "aes256gcm16"),
    ("chacha20poly1305-prfsha256-ecp256", "chacha20poly1305"),
    ("aes256-sha256-modp2048", "aes256-sha256"),
]


def setup(harness, pair, start_charon, *, tern_initiates: bool, proposals: str, esp: str, tern_extra: str = "",
          charon_conn_extra=None, charon_child_extra=None, dpd_action="clear"):
    a, b = pair.a, pair.b
    conf_a = ike.conn("to-b", local_addr=a.outer4, remote_addr=b.outer4, local_id="a.example.com",
                      remote_id="b.example.com", local_ts=a.inner4 + "/32", remote_ts=b.inner4 + "/32",
                      proposals=proposals, esp=esp, conn_extra=tern_extra, dpd_action=dpd_action)
    ta = ike.start_ternd(harness, a.ns, conf_a, label="ternd-a", keylog=True)
    conf_b = psk_config("to-a", local_addr=b.outer4, remote_addr=a.outer4, local_id="b.example.com",
                        remote_id="a.example.com", local_ts=b.inner4 + "/32", remote_ts=a.inner4 + "/32",
                        psk=ike.PSK, ike_proposals=proposals, esp_proposals=esp,
                        conn_extra=charon_conn_extra, child_extra=charon_child_extra)
    cb = start_charon(b.ns, conf_b)
    cb.swanctl_text = conf_b
    if tern_initiates:
        ta.tern("initiate", "--child", "net", timeout=30)
    else:
        cb.initiate(child="net")
    return ta, cb


def traffic_both_ways(harness, pair, ta, cb):
    a, b = pair.a, pair.b
    ca = ike.wait_child(ta)
    chb = cb.wait_for_child("net")
    assert (ca["spi-in"], ca["spi-out"]) == (chb["spi-out"], chb["spi-in"]), (ca, chb)
    a.ns.ping(b.inner4, src=a.inner4, count=3)
    b.ns.ping(a.inner4, src=b.inner4, count=3)
    tcp_transfer(harness, a.ns, a.inner4, b.ns, b.inner4, nbytes=XFER_BYTES)
    tcp_transfer(harness, b.ns, b.inner4, a.ns, a.inner4, nbytes=XFER_BYTES, port=5202)
    c = ike.child(ta)
    assert int(c["bytes-out"]) >= XFER_BYTES and int(c["bytes-in"]) >= XFER_BYTES, c
    assert c.get("encap") == "yes", c
    return c


@pytest.mark.parametrize("proposals,esp", FAMILIES, ids=["gcm-x25519", "chapoly-ecp256", "cbc-sha256-modp2048"])
@pytest.mark.parametrize("tern_initiates", [True, False], ids=["tern-initiator", "tern-responder"])
def test_interop_tunnel(harness, pair, start_charon, tern_bins, proposals, esp, tern_initiates):
    ta, cb = setup(harness, pair, start_charon, tern_initiates=tern_initiates, proposals=proposals, esp=esp)
    traffic_both_ways(harness, pair, ta, cb)
    sa = ike.list_sas(ta)[0]
    assert sa["initiator"] == ("yes" if tern_initiates else "no")
    assert sa["remote-port"] == "4500" and sa.get("nat-remote") == "yes", sa
    charon_sa = cb.wait_for_ike("to-a")
    assert charon_sa["encr-alg"] == sa["encr-alg"] and charon_sa["dh-group"] == sa["dh-group"], (charon_sa, sa)


@pytest.mark.parametrize("tern_initiates", [True, False], ids=["tern-initiator", "tern-responder"])
def test_ike_fragmentation_with_strongswan(harness, pair, start_charon, tern_bins, tern_initiates):
    """RFC 7383: with 16 selectors per side IKE_AUTH outgrows a 512-byte fragment size; both
    directions fragment and reassemble (charon: fragment_size = 512)."""
    a, b = pair.a, pair.b
    extra_a = [f"203.0.113.{i}/32" for i in range(100, 115)]
    extra_b = [f"198.51.100.{i}/32" for i in range(100, 115)]
    # charon installs a route per selector and needs each local one to exist (INTEROP.md).
    for ns, extra in ((a.ns, extra_a), (b.ns, extra_b)):
        for cidr in extra:
            ns.add_addr("lo", cidr)
    ts_a = ",".join([a.inner4 + "/32"] + extra_a)
    ts_b = ",".join([b.inner4 + "/32"] + extra_b)
    conf_a = ike.conn("to-b", local_addr=a.outer4, remote_addr=b.outer4, local_id="a.example.com", remote_id="b.example.com",
                      local_ts=ts_a, remote_ts=ts_b)
    ta = ike.start_ternd(harness, a.ns, conf_a, label="ternd-a", extra=["--fragment-size", "512"])
    conf_b = psk_config("to-a", local_addr=b.outer4, remote_addr=a.outer4, local_id="b.example.com", remote_id="a.example.com",
                        local_ts=ts_b, remote_ts=ts_a, psk=ike.PSK, ike_proposals="aes256gcm16-prfsha256-x25519",
                        esp_proposals="aes256gcm16")
    cb = start_charon(b.ns, conf_b, extra_settings={"fragment_size": "512"})
    if tern_initiates:
        ta.tern("initiate", "--child", "net", timeout=30)
    else:
        cb.initiate(child="net")
    c = ike.wait_child(ta)
    assert len(c["local-ts"]) == 16 and len(c["remote-ts"]) == 16, c
    log = cb.log()
    assert "reassembled fragmented IKE message" in log, cb.log_tail(60)   # ours, reassembled by charon
    assert "splitting IKE message" in log, cb.log_tail(60)                  # charon's, reassembled by us
    a.ns.ping(b.inner4, src=a.inner4, count=2)
