"""IPv6 inner and/or outer tunnels: 6-in-6, 4-in-6, 6-in-4."""
import pytest

import tern_setups
from checks import assert_flow, assert_no_error_drops
from netns import tcp_transfer

pytestmark = pytest.mark.needs_ternd


@pytest.mark.parametrize("inner,outer", [(6, 6), (4, 6), (6, 4)], ids=["6in6", "4in6", "6in4"])
def test_ipv6_tunnels(harness, pair, start_tern, inner, outer):
    cfg = tern_setups.tunnel(pair, inner=inner, outer=outer)
    ta, tb = start_tern(pair, cfg)
    sa = ta.sa(ta.state(), cfg.out_a.spi)
    assert sa["src"] == pair.outer(pair.a, outer) and sa["dst"] == pair.outer(pair.b, outer)
    a_in, b_in = pair.inner(pair.a, inner), pair.inner(pair.b, inner)
    pair.a.ns.ping(b_in, src=a_in, count=5)
    assert_flow(ta, tb, cfg, 5)
    pair.b.ns.ping(a_in, src=b_in, count=3)
    assert_flow(ta, tb, cfg, 8)
    tcp_transfer(harness, pair.a.ns, a_in, pair.b.ns, b_in, nbytes=1 << 20)
    tcp_transfer(harness, pair.b.ns, b_in, pair.a.ns, a_in, nbytes=1 << 20, port=5202)
    assert_no_error_drops(ta, tb)
