"""Tampered and replayed ESP packets are counted and dropped; the SA keeps working afterwards.

A real ESP packet of a ping is captured on A's side and re-injected from A's namespace:
- as is                          -> replay_drops on B's SA, drops.replay
- with a fresh sequence number and a flipped ciphertext byte -> integrity_failures, drops.integrity
  (the sequence number is raised so the replay check passes and the ICV check is what rejects it)
- with an unknown SPI           -> drops.no_sa
"""
import struct

import pytest

import tern_setups
from checks import assert_flow
from netns import Capture

pytestmark = pytest.mark.needs_ternd


def _esp_offset(raw: bytes) -> int:
    return (raw[0] & 0x0F) * 4  # IPv4 header length


def test_replay_integrity_unknown_spi(harness, pair, start_tern):
    from scapy.all import IP, rdpcap

    cfg = tern_setups.tunnel(pair)
    ta, tb = start_tern(pair, cfg)
    spi = cfg.out_a.spi
    cap = Capture(harness, pair.a.ns, "veth0", f"ip proto 50 and src {pair.a.outer4}")
    pair.a.ns.ping(pair.b.inner4, src=pair.a.inner4, count=3)
    assert_flow(ta, tb, cfg, 3)
    pkts = [bytes(p[IP]) for p in rdpcap(str(cap.stop(expect=3))) if IP in p]
    assert len(pkts) >= 3
    original = pkts[0]
    off = _esp_offset(original)
    assert struct.unpack_from("!I", original, off)[0] == spi

    def inject(raw: bytes):
        pair.a.ns.python("inject.py", "--l3", raw.hex())

    def b_state():
        st = tb.state()
        return st, tb.sa(st, spi)

    # 1. Replay.
    st0, sa0 = b_state()
    inject(original)
    st1 = tb.wait_state(lambda st: tb.sa(st, spi)["replay_drops"] == sa0["replay_drops"] + 1,
                        what="replay_drops + 1")
    assert st1["drops"]["replay"] == st0["drops"]["replay"] + 1
    assert tb.sa(st1, spi)["packets"] == sa0["packets"], "a replayed packet was accepted"

    # 2. Tampered: new sequence number (authenticated) and one flipped ciphertext byte.
    seq = struct.unpack_from("!I", original, off + 4)[0]
    tampered = bytearray(original)
    struct.pack_into("!I", tampered, off + 4, seq + 1000)
    tampered[off + 8 + 8 + 3] ^= 0x01          # after SPI, seq and the 8-byte IV
    st1, sa1 = b_state()
    inject(bytes(tampered))
    st2 = tb.wait_state(lambda st: tb.sa(st, spi)["integrity_failures"] == sa1["integrity_failures"] + 1,
                        what="integrity_failures + 1")
    assert st2["drops"]["integrity"] == st1["drops"]["integrity"] + 1
    assert tb.sa(st2, spi)["packets"] == sa1["packets"]

    # A flipped ICV byte alone (sequence number untouched but unused) is caught too.
    icv_flip = bytearray(original)
    struct.pack_into("!I", icv_flip, off + 4, seq + 2000)
    icv_flip[-1] ^= 0x80
    inject(bytes(icv_flip))
    tb.wait_state(lambda st: tb.sa(st, spi)["integrity_failures"] == sa1["integrity_failures"] + 2,
                  what="integrity_failures + 2")

    # 3. Unknown SPI.
    unknown = bytearray(original)
    struct.pack_into("!I", unknown, off, 0xDEADBEEF)
    inject(bytes(unknown))
    tb.wait_state(lambda st: st["drops"]["no_sa"] == st2["drops"]["no_sa"] + 1, what="drops.no_sa + 1")

    # The failed packets did not move the replay window: the tunnel still carries traffic.
    before = tb.sa(tb.state(), spi)["packets"]
    pair.a.ns.ping(pair.b.inner4, src=pair.a.inner4, count=3)
    tb.wait_state(lambda st: tb.sa(st, spi)["packets"] >= before + 3, what="SA still opens packets")
