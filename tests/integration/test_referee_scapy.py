"""scapy as an independent ESP implementation: its packets are accepted by ternd and Tern's are
decrypted by scapy."""
import pytest

import tern_setups
from checks import assert_flow, assert_no_error_drops
from netns import Capture

pytestmark = pytest.mark.needs_ternd


def test_scapy_sealed_echo_is_accepted_and_answered(pair, start_tern):
    from scapy.all import ICMP, IP, Raw
    cfg = tern_setups.tunnel(pair)
    ta, tb = start_tern(pair, cfg)
    st_b, st_a = tb.state(), ta.state()
    b_in = tb.sa(st_b, cfg.out_a.spi)["packets"]
    b_out = tb.sa(st_b, cfg.out_b.spi)["packets"]
    a_in = ta.sa(st_a, cfg.out_b.spi)["packets"]

    inner = IP(src=pair.a.inner4, dst=pair.b.inner4) / ICMP(type=8, id=0x7e41, seq=1) / Raw(b"scapy-referee" * 3)
    # Sequence numbers far above what ternd A has used, so the replay window accepts them.
    sa = cfg.out_a.scapy_sa(seq_num=100000)
    wire = [bytes(sa.encrypt(IP(bytes(inner)))) for _ in range(3)]
    pair.a.ns.python("inject.py", "--l3", *[w.hex() for w in wire])

    tb.wait_state(lambda st: tb.sa(st, cfg.out_a.spi)["packets"] >= b_in + 3, what="B opened scapy's packets")
    tb.wait_state(lambda st: tb.sa(st, cfg.out_b.spi)["packets"] >= b_out + 3, what="B sealed the echo replies")
    ta.wait_state(lambda st: ta.sa(st, cfg.out_b.spi)["packets"] >= a_in + 3, what="A opened the echo replies")
    assert_no_error_drops(ta, tb)


def test_scapy_decrypts_tern_esp(harness, pair, start_tern):
    from scapy.all import ICMP, IP, rdpcap
    import keying
    cfg = tern_setups.tunnel(pair)
    ta, tb = start_tern(pair, cfg)
    cap = Capture(harness, pair.b.ns, "veth0", "ip proto 50")
    pair.a.ns.ping(pair.b.inner4, src=pair.a.inner4, count=4, pattern="c0ffee")
    assert_flow(ta, tb, cfg, 4)
    by_spi = {cfg.out_a.spi: cfg.out_a, cfg.out_b.spi: cfg.out_b}
    seen = {8: 0, 0: 0}
    for p in rdpcap(str(cap.stop(expect=8))):
        if IP not in p:
            continue
        sa = by_spi[p["ESP"].spi]
        inner = keying.open_with_scapy(sa, p[IP])
        assert inner[ICMP].type in seen and b"\xc0\xff\xee" in bytes(inner[ICMP].payload)
        seen[inner[ICMP].type] += 1
    assert seen[8] >= 4 and seen[0] >= 4, seen
