"""tshark as the wire referee: it decrypts Tern's ESP with the SA keys and checks every ICV."""
import pytest

import keying
import tern_setups
from checks import assert_flow
from netns import Capture, tshark_read

pytestmark = pytest.mark.needs_ternd

ESP_PREFS = ["esp.enable_encryption_decode:TRUE", "esp.enable_authentication_check:TRUE"]

CASES = [
    ("tunnel-gcm", lambda p: tern_setups.tunnel(p), "ip proto 50"),
    ("udp-tunnel-gcm", lambda p: tern_setups.tunnel(p, udp=True), "udp port 4500 or ip proto 50"),
    ("transport-cbc-sha256", lambda p: tern_setups.transport(p, keying.AES_CBC_SHA256), "ip proto 50"),
]


@pytest.mark.parametrize("label,make,bpf", CASES, ids=[c[0] for c in CASES])
def test_tshark_decrypts_tern_esp(harness, pair, start_tern, label, make, bpf):
    cfg = make(pair)
    ta, tb = start_tern(pair, cfg)
    tunnel = cfg.out_a.mode == "tunnel"
    a_addr = pair.a.inner4 if tunnel else pair.a.outer4
    b_addr = pair.b.inner4 if tunnel else pair.b.outer4
    cap = Capture(harness, pair.b.ns, "veth0", bpf)
    pair.a.ns.ping(b_addr, src=a_addr, count=5)
    assert_flow(ta, tb, cfg, 5)
    pcap = cap.stop(expect=10)

    rows = tshark_read(pcap, ["frame.number", "esp.spi", "esp.icv_good", "esp.icv_bad", "icmp.type", "ip.src",
                              "ip.dst", "udp.dstport", "esp.decrypted_data"],
                       prefs=ESP_PREFS + [cfg.out_a.tshark_uat(), cfg.out_b.tshark_uat()],
                       display_filter="esp")
    assert len(rows) >= 10, rows   # 5 requests + 5 replies
    for r in rows:
        assert r["esp.icv_bad"] in ("", "0", "False"), r
        assert r["esp.icv_good"] in ("1", "True"), r
        assert r["icmp.type"] in ("0", "8"), r   # the decrypted inner packet is the ping
        if tunnel:
            assert {a_addr, b_addr} <= set(r["ip.src"].split(",") + r["ip.dst"].split(",")), r
        if cfg.out_a.udp:
            assert r["udp.dstport"] == "4500", r
        else:
            assert r["udp.dstport"] == "", r
    assert {r["esp.spi"] for r in rows} == {f"{cfg.out_a.spi:#010x}", f"{cfg.out_b.spi:#010x}"}, rows
