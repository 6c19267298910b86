"""ESP-in-UDP (RFC 3948, port 4500) tunnel mode."""
import pytest

import tern_setups
from checks import XFER_BYTES, assert_flow, assert_no_error_drops
from netns import tcp_transfer

pytestmark = pytest.mark.needs_ternd


def test_esp_in_udp_tunnel(harness, pair, start_tern):
    cfg = tern_setups.tunnel(pair, udp=True)
    ta, tb = start_tern(pair, cfg)
    sa = ta.sa(ta.state(), cfg.out_a.spi)
    assert sa["encap"] == {"sport": 4500, "dport": 4500}, sa
    listening = pair.b.ns.exec(["ss", "-Hlun", "sport", "= :4500"]).stdout.decode()
    assert ":4500" in listening, "ternd B does not listen on UDP 4500"

    pair.a.ns.ping(pair.b.inner4, src=pair.a.inner4, count=5)
    assert_flow(ta, tb, cfg, 5)
    tcp_transfer(harness, pair.a.ns, pair.a.inner4, pair.b.ns, pair.b.inner4, nbytes=XFER_BYTES)
    tcp_transfer(harness, pair.b.ns, pair.b.inner4, pair.a.ns, pair.a.inner4, nbytes=XFER_BYTES, port=5202)
    assert_no_error_drops(ta, tb)
