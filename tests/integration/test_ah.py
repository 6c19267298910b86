"""AH (HMAC-SHA-256-128), transport and tunnel mode."""
import pytest

import keying
import tern_setups
from checks import assert_flow

pytestmark = pytest.mark.needs_ternd


def test_ah_transport(pair, start_tern):
    cfg = tern_setups.transport(pair, keying.AH_SHA256)
    ta, tb = start_tern(pair, cfg)
    sa = ta.sa(ta.state(), cfg.out_a.spi)
    assert sa["proto"] == "ah" and sa["mode"] == "transport"
    pair.a.ns.ping(pair.b.outer4, count=5)
    assert_flow(ta, tb, cfg, 5)


def test_ah_tunnel(pair, start_tern):
    cfg = tern_setups.tunnel(pair, keying.AH_SHA256)
    ta, tb = start_tern(pair, cfg)
    assert ta.sa(ta.state(), cfg.out_a.spi)["proto"] == "ah"
    pair.a.ns.ping(pair.b.inner4, src=pair.a.inner4, count=5)
    assert_flow(ta, tb, cfg, 5)
    pair.b.ns.ping(pair.a.inner4, src=pair.b.inner4, count=5)
    assert_flow(ta, tb, cfg, 10)
