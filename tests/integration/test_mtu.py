"""Packets that fit the TUN but not the underlay after ESP overhead: ICMP 'fragmentation needed'
goes back to the sender and drops.too_big counts them."""
import re

import pytest

import tern_setups
from checks import assert_flow

pytestmark = pytest.mark.needs_ternd


def test_too_big_with_df(pair, start_tern):
    cfg = tern_setups.tunnel(pair)
    ta, tb = start_tern(pair, cfg, extra=["--tun-mtu", "1500", "--underlay-mtu", "1500"])
    assert ta.state()["tun"]["mtu"] == 1500
    before = ta.state()["drops"]["too_big"]
    r = pair.a.ns.ping(pair.b.inner4, src=pair.a.inner4, count=2, size=1472, df=True, check=False)
    out = (r.stdout + r.stderr).decode(errors="replace")
    assert r.returncode != 0, out
    assert re.search(r"frag needed|message too long", out, re.I), out
    ta.wait_state(lambda st: st["drops"]["too_big"] >= before + 1, what="drops.too_big grows")
    # Packets that fit still pass.
    pair.a.ns.ping(pair.b.inner4, src=pair.a.inner4, count=3, size=1200, df=True)
    assert_flow(ta, tb, cfg, 3, both_ways=True, allow_drops=("too_big",))
