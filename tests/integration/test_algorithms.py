"""The other ESP algorithms: each carries pings, and scapy opens a captured packet of each
(tshark 4.0 cannot decrypt ChaCha20-Poly1305, so scapy is the referee for all three)."""
import pytest

import keying
import tern_setups
from checks import assert_flow
from netns import Capture

pytestmark = pytest.mark.needs_ternd


@pytest.mark.parametrize("suite", [keying.CHACHA20, keying.NULL_SHA512, keying.AES_GMAC_256], ids=lambda s: s.name)
def test_esp_algorithm(harness, pair, start_tern, suite):
    from scapy.all import ICMP, IP, rdpcap

    cfg = tern_setups.tunnel(pair, suite)
    ta, tb = start_tern(pair, cfg)
    cap = Capture(harness, pair.b.ns, "veth0", f"ip proto 50 and src {pair.a.outer4}")
    pair.a.ns.ping(pair.b.inner4, src=pair.a.inner4, count=5, pattern="7e41")
    assert_flow(ta, tb, cfg, 5)
    pcap = cap.stop(expect=5)
    pkts = [p for p in rdpcap(str(pcap)) if IP in p]
    assert len(pkts) >= 5
    for p in pkts:
        inner = keying.open_with_scapy(cfg.out_a, p[IP])
        assert inner[IP].src == pair.a.inner4 and inner[IP].dst == pair.b.inner4
        assert inner[ICMP].type == 8 and b"\x7e\x41\x7e\x41" in bytes(inner[ICMP].payload)
