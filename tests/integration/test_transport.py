"""ESP transport mode between the underlay addresses, AES-256-CBC + HMAC-SHA-256."""
import pytest

import keying
import tern_setups
from checks import XFER_BYTES, assert_flow, assert_no_error_drops
from netns import tcp_transfer

pytestmark = pytest.mark.needs_ternd


@pytest.mark.parametrize("family", [4, 6])
def test_esp_transport_cbc_sha256(harness, pair, start_tern, family):
    cfg = tern_setups.transport(pair, keying.AES_CBC_SHA256, family=family)
    ta, tb = start_tern(pair, cfg)
    a, b = pair.outer(pair.a, family), pair.outer(pair.b, family)
    sa = ta.sa(ta.state(), cfg.out_a.spi)
    assert sa["mode"] == "transport" and sa["proto"] == "esp"
    assert sa["integrity"] != "none"

    pair.a.ns.ping(b, count=5)
    assert_flow(ta, tb, cfg, 5)
    tcp_transfer(harness, pair.a.ns, a, pair.b.ns, b, nbytes=XFER_BYTES)
    tcp_transfer(harness, pair.b.ns, b, pair.a.ns, a, nbytes=XFER_BYTES, port=5202)
    assert ta.sa(ta.state(), cfg.out_a.spi)["bytes"] >= XFER_BYTES
    assert_no_error_drops(ta, tb)
