"""Self-tests of the harness itself: they need no ternd, so a red test here is the harness's fault.

They also prove the referees (tshark's ESP decoder and scapy's IPsec layer) agree with each other
on the exact key/algorithm spellings the ternd tests use.
"""
import os
import signal
import subprocess
import sys

import pytest

import keying
import netns
from netns import Capture, Harness, HarnessError, tcp_transfer, tshark_read, wait_for


def test_pair_topology_and_underlay(pair):
    a, b = pair.a, pair.b
    assert a.ns.name.startswith("tt-") and b.ns.name.startswith("tt-")
    addrs = a.ns.ip("-br", "addr", "show", "dev", "lo").stdout.decode()
    assert "203.0.113.1/32" in addrs and "2001:db8:a::1/128" in addrs
    a.ns.ping(b.outer4, count=2)
    a.ns.ping(b.outer6, count=2)
    # Inner addresses are not routable without a tunnel: nothing leaks between the inner nets.
    r = a.ns.ping(b.inner4, src=a.inner4, count=1, check=False)
    assert r.returncode != 0


def test_tcp_transfer_checks_integrity(harness, pair):
    d1 = tcp_transfer(harness, pair.a.ns, pair.a.outer4, pair.b.ns, pair.b.outer4, nbytes=3 << 20)
    d2 = tcp_transfer(harness, pair.b.ns, pair.b.outer6, pair.a.ns, pair.a.outer6, nbytes=1 << 20, port=5202)
    assert d1 != d2


def test_teardown_kills_only_its_pids_and_deletes_namespaces(tmp_path):
    h = Harness(tmp_path / "art")
    ns = h.netns("x")
    p = h.spawn("sleeper", ns.cmd(["sleep", "600"]))
    # A process of ours that the harness did not start must survive the teardown.
    bystander = subprocess.Popen(["sleep", "600"])
    try:
        assert p.alive()
        h.close()
        assert not p.alive()
        assert ns.name not in netns.run(["ip", "netns", "list"]).stdout.decode()
        assert bystander.poll() is None
    finally:
        bystander.kill()
        bystander.wait()


def test_wait_for_times_out_with_diagnostics():
    with pytest.raises(HarnessError, match=r"waiting for the impossible(.|\n)*diag text"):
        wait_for(lambda: False, timeout=0.2, what="the impossible", diag=lambda: "diag text")
    assert wait_for(lambda: 42, timeout=1) == 42


def test_process_output_wait_and_failure_report(harness):
    ns = harness.netns("p")
    p = harness.spawn("echoer", ns.cmd([sys.executable, "-c", "import sys; print('hello', flush=True); "
                                        "sys.stderr.write('oops\\n'); sys.exit(3)"]))
    p.wait_output(r"^hello")
    assert p.wait() == 3
    assert "oops" in p.describe() and "exited 3" in p.describe()
    q = harness.spawn("dies", ns.cmd(["false"]))
    with pytest.raises(HarnessError, match="exited"):
        q.wait_output("never", timeout=5)


REFEREE_CASES = [
    ("tunnel-gcm", keying.AES_GCM_256, "tunnel", False),
    ("transport-cbc-sha256", keying.AES_CBC_SHA256, "transport", False),
    ("tunnel-null-sha512", keying.NULL_SHA512, "tunnel", False),
    ("udp-tunnel-gcm", keying.AES_GCM_256, "tunnel", True),
]


@pytest.mark.parametrize("label,suite,mode,udp", REFEREE_CASES, ids=[c[0] for c in REFEREE_CASES])
def test_referees_agree_on_the_wire(harness, pair, label, suite, mode, udp):
    """scapy seals ICMP with an SA, inject.py sends it A->B, tshark captures it in B and decrypts it
    with keying's uat:esp_sa string; scapy decrypts the capture back to the same ICMP."""
    from scapy.all import ICMP, IP, Raw, rdpcap

    sa = keying.new_sa(pair.a.outer4, pair.b.outer4, 0x4242, suite, mode, udp=udp)
    if mode == "tunnel":
        inner = IP(src=pair.a.inner4, dst=pair.b.inner4) / ICMP(id=7, seq=1) / Raw(b"tern-referee" * 4)
    else:
        inner = IP(src=pair.a.outer4, dst=pair.b.outer4) / ICMP(id=7, seq=1) / Raw(b"tern-referee" * 4)
    wire = [bytes(sa.scapy_sa(seq_num=i + 1).encrypt(IP(bytes(inner)))) for i in range(3)]

    # A second SA entry first: the tests pass both directions' SAs as repeated -o uat:esp_sa options.
    decoy = keying.new_sa(pair.b.outer4, pair.a.outer4, 0x4243, suite, mode, udp=udp)
    bpf = "udp port 4500" if udp else "ip proto 50"
    cap = Capture(harness, pair.b.ns, "veth0", bpf, label="cap-b")
    pair.a.ns.python("inject.py", "--l3", *[w.hex() for w in wire])
    # Wait until the capture file holds the 3 packets instead of sleeping.
    wait_for(lambda: len(tshark_read(cap.path, ["frame.number"])) >= 3, timeout=10, what="3 captured packets")
    pcap = cap.stop(expect=3)

    rows = tshark_read(pcap, ["esp.spi", "esp.icv_good", "esp.icv_bad", "icmp.type", "ip.src"],
                       prefs=["esp.enable_encryption_decode:TRUE", "esp.enable_authentication_check:TRUE",
                              decoy.tshark_uat(), sa.tshark_uat()])
    assert len(rows) == 3, rows
    for r in rows:
        assert r["esp.icv_bad"] in ("", "0", "False"), rows
        assert r["esp.icv_good"] in ("1", "True"), rows
        assert r["icmp.type"] == "8", rows
        assert pair.a.outer4 in r["ip.src"] and (mode == "transport" or pair.a.inner4 in r["ip.src"]), rows

    # The wrong key makes tshark report the ICV as bad: the check is real.
    bad = keying.SA(**{**sa.__dict__, "enc_key": bytes(len(sa.enc_key)), "auth_key": bytes(len(sa.auth_key))})
    rows = tshark_read(pcap, ["esp.icv_good", "esp.icv_bad"],
                       prefs=["esp.enable_encryption_decode:TRUE", "esp.enable_authentication_check:TRUE",
                              bad.tshark_uat()])
    assert all(r["esp.icv_good"] in ("", "0", "False") for r in rows), rows

    for pkt in rdpcap(str(pcap)):
        clear = keying.open_with_scapy(sa, pkt[IP])
        assert bytes(clear[ICMP].payload) == b"tern-referee" * 4


@pytest.mark.parametrize("suite", [keying.CHACHA20, keying.AES_GMAC_256, keying.AH_SHA256],
                         ids=lambda s: s.name)
def test_scapy_round_trip_for_algorithms_tshark_cannot_decode(suite):
    from scapy.all import ICMP, IP, Raw
    sa = keying.new_sa("192.0.2.1", "192.0.2.2", 0x99, suite, "tunnel")
    inner = IP(src="203.0.113.1", dst="198.51.100.1") / ICMP() / Raw(b"x" * 40)
    wire = sa.scapy_sa().encrypt(IP(bytes(inner)))
    back = keying.open_with_scapy(sa, IP(bytes(wire)))
    assert bytes(back[ICMP].payload) == b"x" * 40


def test_setkey_text_shapes():
    cfg = keying.host_config("tunnel", keying.AES_GCM_256, a_outer="192.0.2.1", b_outer="192.0.2.2",
                             a_sel="203.0.113.0/24", b_sel="198.51.100.0/24")
    assert "add 192.0.2.1 192.0.2.2 esp 0x1001 -m tunnel -E aes-gcm-16 0x" in cfg.text_a
    assert "spdadd 203.0.113.0/24 198.51.100.0/24 any -P out ipsec esp/tunnel/192.0.2.1-192.0.2.2/require;" in cfg.text_a
    assert "spdadd 198.51.100.0/24 203.0.113.0/24 any -P out ipsec esp/tunnel/192.0.2.2-192.0.2.1/require;" in cfg.text_b
    assert len(cfg.out_a.enc_key) == 36
    udp = keying.host_config("tunnel", keying.AES_GCM_256, a_outer="192.0.2.1", b_outer="192.0.2.2",
                             a_sel="203.0.113.0/24", b_sel="198.51.100.0/24", udp=True)
    assert "add 192.0.2.1[4500] 192.0.2.2[4500] esp-udp 0x1001 -m tunnel" in udp.text_a
    ah = keying.host_config("transport", keying.AH_SHA256, a_outer="192.0.2.1", b_outer="192.0.2.2",
                            a_sel="192.0.2.1", b_sel="192.0.2.2")
    assert "add 192.0.2.1 192.0.2.2 ah 0x1001 -m transport -A hmac-sha256 0x" in ah.text_a
    assert "spdadd 192.0.2.1 192.0.2.2 any -P out ipsec ah/transport//require;" in ah.text_a
