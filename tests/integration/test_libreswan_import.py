"""`tern import` on seed 001 section 11 (a Libreswan ipsec.conf and ipsec.secrets for gateway A),
with the seed's addresses moved to the test ranges: gateways 192.0.2.1/192.0.2.2 (were 203.0.113.1
and 198.51.100.1), LANs 203.0.113.0/24 and 198.51.100.0/24 (were 10.1.0.0/24 and 10.2.0.0/24).

The converted swanctl.conf must load with strongSwan's own `swanctl --load-all`, into a charon
and into a ternd started without configuration; and that ternd, as gateway A, must bring the
tunnel up with gateway B configured as seed 001 section 8 (strongSwan 5.9.8), with two changes
the seed's own two sections force: B's identities are the Libreswan file's (@gateway-b,
@gateway-a, not gateway-b@example.com) and its PSK is the one in ipsec.secrets, and B only
answers (start_action = none) so the one initiator is the converted auto=start."""
import subprocess
from pathlib import Path

import pytest

import ike_setups as ike
from netns import HarnessError, tern_bin_dir, wait_for

pytestmark = pytest.mark.needs_ternd

FIXTURES = Path(__file__).resolve().parents[2] / "Tests/TernConfigTests/Fixtures/libreswan"

MOVES = [("203.0.113.1", "192.0.2.1"), ("198.51.100.1", "192.0.2.2"),
         ("10.1.0.0/24", "203.0.113.0/24"), ("10.2.0.0/24", "198.51.100.0/24")]

# Seed 001 section 8, gateway B, addresses moved as above, ids and PSK those of section 11.
SECTION_8_GATEWAY_B = """connections {
site-a {
version = 2
local_addrs = 192.0.2.2
remote_addrs = 192.0.2.1
local {
auth = psk
id = @gateway-b
}
remote {
auth = psk
id = @gateway-a
}
children {
lan-to-lan {
local_ts = 198.51.100.0/24
remote_ts = 203.0.113.0/24
esp_proposals = aes256gcm128-sha256-modp2048
start_action = none
dpd_action = restart
close_action = restart
rekey_time = 3600
}
}
proposals = aes256-sha256-modp2048
rekey_time = 14400
dpd_delay = 30
}
}
secrets {
ike-site-a {
id-a = @gateway-a
id-b = @gateway-b
secret = "STRONG_RANDOM_KEY_HERE"
}
}
"""


def moved(text: str) -> str:
    for old, new in MOVES:
        text = text.replace(old, new)
    return text


def swanctl(uri: str, *args, timeout=30) -> str:
    argv = ["swanctl"] + list(args) + ["--uri", uri]
    p = subprocess.run(argv, capture_output=True, timeout=timeout)
    out = p.stdout.decode(errors="replace")
    if p.returncode != 0:
        raise HarnessError(f"exit {p.returncode}: {' '.join(argv)}\nstdout: {out}\nstderr: {p.stderr.decode(errors='replace')}")
    return out


def convert(harness) -> tuple[Path, str, str]:
    """Runs `tern import` on the moved seed files; returns (swanctl.conf path, text, stderr)."""
    work = harness.artifacts / "import"
    for d in ("x509", "x509ca", "x509crl", "private", "rsa", "ecdsa", "pkcs8", "pkcs12", "pubkey"):
        (work / d).mkdir(parents=True, exist_ok=True)
    conf = work / "ipsec.conf"
    secrets = work / "ipsec.secrets"
    conf.write_text(moved((FIXTURES / "seed001-site-to-site.conf").read_text()))
    secrets.write_text((FIXTURES / "seed001-site-b.secrets").read_text())
    secrets.chmod(0o600)
    out = work / "swanctl.conf"
    p = subprocess.run([str(tern_bin_dir() / "tern"), "import", str(conf), "--secrets", str(secrets), "-o", str(out)],
                       capture_output=True, timeout=30)
    err = p.stderr.decode(errors="replace")
    assert p.returncode == 0, err
    assert out.stat().st_mode & 0o777 == 0o600, oct(out.stat().st_mode)   # it holds the PSK
    return out, out.read_text(), err


def test_converted_seed_loads_into_charon_and_ternd_and_interoperates(harness, pair, start_charon, tern_bins):
    conf, text, err = convert(harness)
    # The seed page lost its indentation: that is the only remark; nothing else was dropped.
    warnings = [l for l in err.splitlines() if ": warning: " in l]
    assert len(warnings) == 1 and "first column" in warnings[0], err
    assert "ternd will refuse" not in err, err
    assert "proposals = aes256-sha256-modp2048" in text and "esp_proposals = aes256gcm16-modp2048" in text, text
    assert "local_ts = 203.0.113.0/24" in text and "remote_ts = 198.51.100.0/24" in text, text

    # strongSwan's swanctl loads it into a charon of its own (in a namespace with no peer).
    lone = harness.netns("load")
    ch = start_charon(lone, None)
    out = swanctl(ch.uri, "--load-all", "--noprompt", "--file", str(conf))
    assert "loaded ike secret 'ike-1'" in out and "loaded connection 'site-b'" in out, out
    assert "successfully loaded 1 connections, 0 unloaded" in out, out
    conns = swanctl(ch.uri, "--list-conns")
    assert "site-b: IKEv2" in conns and "203.0.113.0/24" in conns and "198.51.100.0/24" in conns, conns
    ch.stop()

    # Gateway B: strongSwan configured as seed 001 section 8.
    a, b = pair.a, pair.b
    cb = start_charon(b.ns, SECTION_8_GATEWAY_B)

    # Gateway A: a bare ternd, loaded by strongSwan's swanctl from the converted file;
    # start_action = start (auto=start) initiates by itself.
    ta = harness.ternd(a.ns, [], extra=["--retransmit-timeout", "1", "--retransmit-tries", "3"], label="ternd-gw-a")
    ta.wait_ready()
    out = swanctl(f"unix://{ta.sock}", "--load-all", "--noprompt", "--file", str(conf))
    assert "loaded ike secret 'ike-1'" in out and "loaded connection 'site-b'" in out, out
    assert "successfully loaded 1 connections, 0 unloaded" in out, out

    ca = ike.wait_child(ta, "site-b", timeout=40)
    chb = cb.wait_for_child("lan-to-lan", timeout=20)
    assert (ca["spi-in"], ca["spi-out"]) == (chb["spi-out"], chb["spi-in"]), (ca, chb)
    assert ca["local-ts"] == ["203.0.113.0/24"] and ca["remote-ts"] == ["198.51.100.0/24"], ca
    assert ca["encr-alg"] == "AES_GCM_16" and ca["encr-keysize"] == "256", ca
    sa = [s for s in ike.list_sas(ta) if s["state"] == "ESTABLISHED"][0]
    assert sa["local-id"] == "gateway-a" and sa["remote-id"] == "gateway-b", sa
    assert (sa["encr-alg"], sa["integ-alg"], sa["dh-group"]) == ("AES_CBC", "HMAC_SHA2_256_128", "MODP_2048"), sa
    # ikelifetime=4h less Libreswan's 9m margin and up to 9m of fuzz; salifetime=1h likewise.
    assert 13_300 <= int(sa["rekey-time"]) <= 13_860 and 2_500 <= int(ca["rekey-time"]) <= 3_060, (sa, ca)

    a.ns.ping(b.inner4, src=a.inner4, count=3)
    b.ns.ping(a.inner4, src=b.inner4, count=3)
    c = ike.child(ta, "site-b")
    assert int(c["packets-out"]) >= 6 and int(c["packets-in"]) >= 6, c
    counters = cb.child_counters("lan-to-lan")
    assert counters["packets_in"] >= 6 and counters["packets_out"] >= 6, counters


def test_ternd_loads_the_converted_file_itself(harness, pair, tern_bins):
    """`ternd --conf` on the converted file: the mapping accepts it and the connection is listed."""
    _, text, _ = convert(harness)
    t = ike.start_ternd(harness, pair.a.ns, text, label="ternd-conf")
    conns = t.tern("list-conns", "--json").stdout.decode()
    assert "site-b" in conns and "203.0.113.0/24" in conns, conns
