"""Seed 001's PSK site-to-site configurations (gateway A and B), loaded exactly as written:
ternd on 203.0.113.1 and 198.51.100.1 (the seed's addresses), start_action = start brings the
tunnel up by itself with the seed's proposals (aes256-sha256-modp2048, ESP aes256gcm128-…)."""
from pathlib import Path

import pytest

import ike_setups as ike

pytestmark = pytest.mark.needs_ternd

FIXTURES = Path(__file__).resolve().parents[2] / "Tests/TernConfigTests/Fixtures/swanctl"


def test_seed_001_psk_site_to_site_as_written(harness, tern_bins):
    na, nb = ike.seed_gateways(harness)
    tb = ike.start_ternd(harness, nb, (FIXTURES / "seed001-gateway-b-psk.conf").read_text(), label="ternd-gw-b")
    ta = ike.start_ternd(harness, na, (FIXTURES / "seed001-gateway-a-psk.conf").read_text(), label="ternd-gw-a")
    ca = ike.wait_child(ta, "lan-to-lan", timeout=30)
    cb = ike.wait_child(tb, "lan-to-lan", timeout=30)
    assert ca["local-ts"] == ["10.1.0.0/24"] and ca["remote-ts"] == ["10.2.0.0/24"], ca
    assert ca["spi-in"] == cb["spi-out"] and ca["encr-alg"] == "AES_GCM_16" and ca["encr-keysize"] == "256", ca
    sa = [s for s in ike.list_sas(ta) if s["state"] == "ESTABLISHED"][0]
    assert sa["local-id"] == "gateway-a@example.com" and sa["remote-id"] == "gateway-b@example.com", sa
    assert (sa["encr-alg"], sa["encr-keysize"], sa["integ-alg"], sa["dh-group"]) == \
        ("AES_CBC", "256", "HMAC_SHA2_256_128", "MODP_2048"), sa
    # rekey_time = 3600 for the child and 14400 for the IKE SA (less the random jitter).
    assert 3000 < int(ca["rekey-time"]) <= 3600 and 12000 < int(sa["rekey-time"]) <= 14400, (ca, sa)
