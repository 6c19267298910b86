"""AH (HMAC-SHA-256-128), transport and tunnel mode."""
import pytest

import keying
import tern_setups
from checks import XFER_BYTES, assert_flow, assert_no_error_drops
from netns import tcp_transfer

pytestmark = pytest.mark.needs_ternd


def test_ah_transport(harness, pair, start_tern):
    cfg = tern_setups.transport(pair, keying.AH_SHA256)
    ta, tb = start_tern(pair, cfg)
    sa = ta.sa(ta.state(), cfg.out_a.spi)
    assert sa["proto"] == "ah" and sa["mode"] == "transport"
    pair.a.ns.ping(pair.b.outer4, count=5)
    assert_flow(ta, tb, cfg, 5)
    a, b = pair.a.outer4, pair.b.outer4
    tcp_transfer(harness, pair.a.ns, a, pair.b.ns, b, nbytes=XFER_BYTES)
    tcp_transfer(harness, pair.b.ns, b, pair.a.ns, a, nbytes=XFER_BYTES, port=5202)
    assert_no_error_drops(ta, tb)


def test_ah_tunnel(harness, pair, start_tern):
    cfg = tern_setups.tunnel(pair, keying.AH_SHA256)
    ta, tb = start_tern(pair, cfg)
    assert ta.sa(ta.state(), cfg.out_a.spi)["proto"] == "ah"
    pair.a.ns.ping(pair.b.inner4, src=pair.a.inner4, count=5)
    assert_flow(ta, tb, cfg, 5)
    pair.b.ns.ping(pair.a.inner4, src=pair.b.inner4, count=5)
    assert_flow(ta, tb, cfg, 10)
    a, b = pair.a.inner4, pair.b.inner4
    tcp_transfer(harness, pair.a.ns, a, pair.b.ns, b, nbytes=XFER_BYTES)
    tcp_transfer(harness, pair.b.ns, b, pair.a.ns, a, nbytes=XFER_BYTES, port=5202)
    assert_no_error_drops(ta, tb)
