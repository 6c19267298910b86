"""ESP tunnel mode, AES-256-GCM, IPv4 in IPv4: ping and TCP both ways, counters, state shape."""
import pytest

import tern_setups
from checks import XFER_BYTES, assert_flow, assert_no_error_drops, wait_sa_packets
from netns import tcp_transfer

pytestmark = pytest.mark.needs_ternd


def test_esp_tunnel_gcm_ipv4(harness, pair, start_tern):
    cfg = tern_setups.tunnel(pair)
    ta, tb = start_tern(pair, cfg)
    a, b = pair.a, pair.b

    st = ta.state()
    sa = ta.sa(st, cfg.out_a.spi)
    assert (sa["src"], sa["dst"], sa["proto"], sa["mode"]) == (a.outer4, b.outer4, "esp", "tunnel")
    assert sa["encryption"] == "aes-gcm-16-256" and sa["encap"] is None and sa["outbound"] is True
    assert ta.sa(st, cfg.out_b.spi)["outbound"] is False
    outs = [p for p in st["policies"] if p["dir"] == "out"]
    assert any(p["src"] == a.net4 and p["dst"] == b.net4 and p["action"] == "ipsec" for p in outs), st["policies"]
    assert st["tun"]["name"] == "tern0"

    a.ns.ping(b.inner4, src=a.inner4, count=5)
    assert_flow(ta, tb, cfg, 5)
    b.ns.ping(a.inner4, src=b.inner4, count=5)
    assert_flow(ta, tb, cfg, 10)

    before = ta.sa(ta.state(), cfg.out_a.spi)["bytes"]
    tcp_transfer(harness, a.ns, a.inner4, b.ns, b.inner4, nbytes=XFER_BYTES)
    tcp_transfer(harness, b.ns, b.inner4, a.ns, a.inner4, nbytes=XFER_BYTES, port=5202)
    # Each direction carried at least the payload once.
    assert ta.sa(ta.state(), cfg.out_a.spi)["bytes"] - before >= XFER_BYTES
    assert tb.sa(tb.state(), cfg.out_b.spi)["bytes"] >= XFER_BYTES
    assert_no_error_drops(ta, tb)
    # The matching policy counted the traffic too.
    pol = [p for p in ta.state()["policies"] if p["dir"] == "out" and p["dst"] == b.net4][0]
    assert pol["packets"] >= 10


def test_tunnel_does_not_carry_unprotected_traffic(harness, pair, start_tern):
    """Traffic between the underlay addresses has no policy and must not enter the tunnel."""
    cfg = tern_setups.tunnel(pair)
    ta, tb = start_tern(pair, cfg)
    pair.a.ns.ping(pair.b.outer4, count=3)
    st = ta.state()
    assert ta.sa(st, cfg.out_a.spi)["packets"] == 0
    assert_no_error_drops(ta, tb)
