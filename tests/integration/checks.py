"""Assertions on `tern state --json` shared by the tests."""
from __future__ import annotations

import os

# Drop counters that mean "the data plane rejected something". no_policy/discard_policy are left out:
# the kernel may send its own link-local noise (IPv6 RS/MLD) into the TUN, which is not an error.
ERROR_DROPS = ("malformed", "no_sa", "replay", "integrity", "bad_padding", "policy_mismatch",
               "too_big", "send_failed", "tun_write_failed")

def assert_no_error_drops(*ternds, allow: tuple[str, ...] = ()):
    for t in ternds:
        st = t.state()
        bad = {k: st["drops"].get(k, 0) for k in ERROR_DROPS if st["drops"].get(k, 0) and k not in allow}
        assert not bad, f"{t.label}: unexpected drops {bad}\n{t.state_text()}"


def wait_sa_packets(t, spi: int, at_least: int, *, outbound: bool, timeout: float = 10) -> dict:
    """Waits until SA `spi` in ternd `t` counted at least N packets; checks its direction flag."""
    def pred(st):
        sa = t.sa(st, spi)
        return sa["packets"] >= at_least
    st = t.wait_state(pred, timeout=timeout, what=f"SA {spi:#x} packets >= {at_least}")
    sa = t.sa(st, spi)
    assert sa["outbound"] is outbound, f"{t.label}: SA {spi:#x} outbound={sa['outbound']}, expected {outbound}"
    assert sa["bytes"] >= sa["packets"] * 20, sa
    return sa


def assert_flow(ta, tb, cfg, n: int, *, both_ways: bool = True, allow_drops: tuple[str, ...] = ()):
    """A sealed >= n on A->B and B opened them (never more than were sealed); same for B->A."""
    a_out = wait_sa_packets(ta, cfg.out_a.spi, n, outbound=True)
    b_in = wait_sa_packets(tb, cfg.out_a.spi, n, outbound=False)
    assert b_in["packets"] <= ta.sa(ta.state(), cfg.out_a.spi)["packets"], (a_out, b_in)
    if both_ways:
        wait_sa_packets(tb, cfg.out_b.spi, n, outbound=True)
        wait_sa_packets(ta, cfg.out_b.spi, n, outbound=False)
    assert_no_error_drops(ta, tb, allow=allow_drops)


XFER_BYTES = int(float(os.environ.get("TERN_TEST_XFER_MB", "4")) * (1 << 20))
