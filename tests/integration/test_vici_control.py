"""ternd's control socket as strongSwan's VICI: Debian's swanctl and the PyPI `vici` package drive a
ternd started without any configuration file, as they would drive charon."""
import re
import socket
import subprocess
import threading
import time

import pytest

import ike_setups as ike
from netns import HarnessError, wait_for

pytestmark = pytest.mark.needs_ternd


def swanctl(t, *args, check=True, timeout=30) -> str:
    argv = ["swanctl"] + list(args) + ["--uri", f"unix://{t.sock}"]
    p = subprocess.run(argv, capture_output=True, timeout=timeout)
    out = p.stdout.decode(errors="replace")
    if check and p.returncode != 0:
        raise HarnessError(f"exit {p.returncode}: {' '.join(argv)}\nstdout: {out}\nstderr: {p.stderr.decode(errors='replace')}\n"
                           f"{t.describe()}")
    return out


def start_bare_ternd(harness, ns, label):
    """ternd without --conf: everything arrives over VICI."""
    t = harness.ternd(ns, [], extra=["--retransmit-timeout", "1", "--retransmit-tries", "3"], label=label)
    t.wait_ready()
    return t


@pytest.fixture
def vici_pair(harness, pair, tern_bins):
    """B: ternd with its file configuration; A: ternd with none."""
    _, cb = ike.pair_confs(pair)
    tb = ike.start_ternd(harness, pair.b.ns, cb, label="ternd-b")
    ta = start_bare_ternd(harness, pair.a.ns, "ternd-a")
    return ta, tb


def test_swanctl_drives_a_ternd_started_without_configuration(harness, pair, vici_pair):
    ta, tb = vici_pair
    ca, _ = ike.pair_confs(pair)
    # swanctl reads x509/, private/ … next to the file it is given.
    confdir = harness.artifacts / "swanctl-a"
    for d in ("x509", "x509ca", "private"):
        (confdir / d).mkdir(parents=True, exist_ok=True)
    key = subprocess.run(["pki", "--gen", "--type", "ecdsa", "--size", "256"], capture_output=True, check=True).stdout
    (confdir / "private" / "a.der").write_bytes(key)
    (confdir / "private" / "a.der").chmod(0o600)
    cert = subprocess.run(["pki", "--self", "--in", str(confdir / "private" / "a.der"), "--type", "ecdsa",
                           "--dn", "CN=a.example.com, O=Tern Test", "--ca", "--outform", "pem"],
                          capture_output=True, check=True).stdout
    (confdir / "x509ca" / "a.pem").write_bytes(cert)
    conf = confdir / "swanctl.conf"
    conf.write_text(ca + "authorities {\n    ca-a {\n        cacert = a.pem\n    }\n}\n")
    conf.chmod(0o600)

    assert not swanctl(ta, "--list-conns").strip()
    out = swanctl(ta, "--load-all", "--noprompt", "--file", str(conf))
    assert "loaded connection 'to-b'" in out and "successfully loaded 1 connections, 0 unloaded" in out, out
    assert "loaded ike secret 'ike-to-b'" in out, out
    assert "loaded private key from" in out and "loaded certificate from" in out, out
    assert "loaded authority 'ca-a'" in out, out
    auth = swanctl(ta, "--list-authorities")
    assert "ca-a:" in auth and "CN=a.example.com" in auth, auth
    conns = swanctl(ta, "--list-conns")
    assert "to-b: IKEv2" in conns and "net: TUNNEL" in conns and f"{pair.b.inner4}/32" in conns, conns

    out = swanctl(ta, "--initiate", "--child", "net", timeout=40)
    assert "initiate completed successfully" in out, out
    assert "CHILD_SA net{" in out and "established" in out, out   # control-log lines
    ike.wait_child(tb)
    pair.a.ns.ping(pair.b.inner4, src=pair.a.inner4, count=3)
    sas = swanctl(ta, "--list-sas")
    assert "to-b: #" in sas and "ESTABLISHED" in sas and "net: #" in sas and "INSTALLED, TUNNEL" in sas, sas
    sent = [int(m) for m in re.findall(r"out\s+\S+,\s+\d+ bytes,\s+(\d+) packets", sas)]
    assert sent and sent[0] >= 3, sas
    assert f"local  {pair.a.inner4}/32" in sas and f"remote {pair.b.inner4}/32" in sas, sas

    old_spi = ike.child(ta)["spi-in"]
    out = swanctl(ta, "--rekey", "--child", "net")
    assert "rekey completed successfully" in out, out
    wait_for(lambda: (c := ike.child(ta)) and c["spi-in"] != old_spi, timeout=15, what="CHILD_SA rekeyed")

    stats = swanctl(ta, "--stats")
    assert "uptime:" in stats and "IKE_SAs: 1 total" in stats, stats
    per_conn = swanctl(ta, "--counters", "--name", "to-b")
    for name in ("ike-init-out-req", "ike-auth-out-req", "ike-auth-in-resp", "create-child-out-req", "child-rekey"):
        assert re.search(rf"{name}\s*:\s*1\n", per_conn), (name, per_conn)
    counters = swanctl(ta, "--counters")
    assert "ike-init-out-req" in counters and "child-rekey" in counters, counters
    assert re.search(r"create-child-out-req\s*:\s*1\n", counters), counters

    # --log follows events until killed. It is connected once an install/uninstall's log line
    # shows up; then terminating shows the deletes.
    log = subprocess.Popen(["stdbuf", "-oL", "swanctl", "--log", "--uri", f"unix://{ta.sock}"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(l.decode(errors="replace") for l in log.stdout), daemon=True)
    reader.start()
    try:
        def probe():
            swanctl(ta, "--install", "--child", "net")
            swanctl(ta, "--uninstall", "--child", "net")
            return any("trap policy" in l for l in lines)
        wait_for(probe, timeout=10, interval=0.2, what="swanctl --log receives log events")
        out = swanctl(ta, "--terminate", "--ike", "to-b", timeout=30)
        assert "terminate completed successfully" in out, out
        ike.wait_no_sas(ta)
        wait_for(lambda: any("deleted" in l for l in lines), timeout=10, what="delete logged")
    finally:
        log.terminate()
        log.wait(timeout=10)

    # A trap policy by hand, listed, removed.
    out = swanctl(ta, "--install", "--child", "net")
    assert "install completed successfully" in out, out
    pols = swanctl(ta, "--list-pols")
    assert "to-b/net" in pols and "TUNNEL" in pols, pols
    out = swanctl(ta, "--uninstall", "--child", "net")
    assert "uninstall completed successfully" in out, out
    assert "to-b/net" not in swanctl(ta, "--list-pols")

    certs = swanctl(ta, "--list-certs")
    assert "CN=a.example.com" in certs and "has private key" in certs, certs

    # unload-conn (by loading an empty file) removes it; a bad connection is refused with the reason.
    out = swanctl(ta, "--load-conns", "--file", str(_write(harness, "empty.conf", "connections {}\n")))
    assert "no connections found, 1 unloaded" in out, out
    assert not swanctl(ta, "--list-conns").strip()
    bad = _write(harness, "bad.conf", "connections {\n bad {\n  remote_addrs = 192.0.2.2\n  proposals = nonsense-cipher\n"
                                      "  local { auth = psk }\n  remote { auth = psk }\n }\n}\n")
    p = subprocess.run(["swanctl", "--load-conns", "--file", str(bad), "--uri", f"unix://{ta.sock}"], capture_output=True)
    assert p.returncode != 0
    assert b"proposals" in p.stdout + p.stderr, p.stdout + p.stderr
    assert ta.alive()


def _write(harness, name, text):
    return harness.write_private(name, text)


def test_python_vici_loads_initiates_and_receives_updown_events(harness, pair, vici_pair):
    vici = pytest.importorskip("vici")
    ta, tb = vici_pair
    a, b = pair.a, pair.b

    def session():
        s = socket.socket(socket.AF_UNIX)
        s.connect(str(ta.sock))
        return vici.Session(s)

    s = session()
    conn = {"to-b": {
        "version": "2", "local_addrs": [a.outer4], "remote_addrs": [b.outer4],
        "proposals": ["aes256gcm16-prfsha256-x25519"],
        "local": {"auth": "psk", "id": "a.example.com"},
        "remote": {"auth": "psk", "id": "b.example.com"},
        "children": {"net": {"local_ts": [a.inner4 + "/32"], "remote_ts": [b.inner4 + "/32"],
                             "esp_proposals": ["aes256gcm16"]}},
    }}
    s.load_conn(conn)
    s.load_shared({"id": "ike-to-b", "type": "IKE", "data": ike.PSK, "owners": ["a.example.com", "b.example.com"]})
    assert s.get_conns()["conns"] == [b"to-b"]
    assert s.get_shared()["keys"] == [b"ike-to-b"]
    with pytest.raises(vici.exception.CommandException):
        s.load_conn({"x": {"remote_addrs": ["not an address!"], "local": {"auth": "psk"}, "remote": {"auth": "psk"}}})

    events = []
    listener = session()
    # The generator registers on its first step (a confirmed request), then waits up to 0.2 s.
    stream = listener.listen(["ike-updown", "child-updown", "child-rekey"], timeout=0.2)
    first = next(stream)
    if first[0] is not None:
        events.append((first[0].decode(), first[1]))

    def listen():
        for kind, msg in stream:
            if kind is not None:
                events.append((kind.decode(), msg))
            if len([e for e in events if e[0] == "ike-updown"]) >= 2 or stop.is_set():
                break

    stop = threading.Event()
    th = threading.Thread(target=listen, daemon=True)
    th.start()

    logs = list(s.initiate({"child": "net", "timeout": "20000"}))
    assert any(b"established" in l["msg"] for l in logs), logs   # control-log
    sas = list(s.list_sas())
    assert sas and sas[0]["to-b"]["state"] == b"ESTABLISHED"
    child = next(iter(sas[0]["to-b"]["child-sas"].values()))
    assert child["name"] == b"net" and child["state"] == b"INSTALLED"
    old_spi = child["spi-in"]
    s.rekey({"child": "net"})
    wait_for(lambda: any(k == "child-rekey" for k, _ in events), timeout=15, what="child-rekey event")
    rekey = next(m for k, m in events if k == "child-rekey")
    pair_ = next(iter(rekey["to-b"]["child-sas"].values()))
    assert pair_["old"]["spi-in"] == old_spi and pair_["new"]["spi-in"] != old_spi, rekey
    list(s.terminate({"ike": "to-b", "timeout": "20000"}))
    th.join(timeout=20)
    stop.set()
    kinds = [(k, m.get("up")) for k, m in events]
    assert ("ike-updown", b"yes") in kinds and ("child-updown", b"yes") in kinds, kinds
    assert ("ike-updown", None) in kinds, kinds
    up = next(m for k, m in events if k == "ike-updown" and m.get("up") == b"yes")
    assert up["to-b"]["state"] == b"ESTABLISHED" and up["to-b"]["remote-id"] == b"b.example.com"
    s.unload_conn({"name": "to-b"})
    assert s.get_conns()["conns"] == []
    s.unload_shared({"id": "ike-to-b"})
    assert s.get_shared()["keys"] == []


def test_malformed_requests_answer_errors_and_leave_the_daemon_running(harness, pair, tern_bins):
    vici = pytest.importorskip("vici")
    t = start_bare_ternd(harness, pair.a.ns, "ternd-a")
    sock = socket.socket(socket.AF_UNIX)
    sock.connect(str(t.sock))
    s = vici.Session(sock)
    bad = [
        ("load-conn", {"a": {"version": "2", "local": {"auth": "psk"}, "remote": {"auth": "psk"}},
                       "b": {"version": "1"}}),      # the bad second one keeps the first out too
        ("load-conn", {"a": {"children": {"c": {"mode": "bogus"}}, "local": {"auth": "psk"}, "remote": {"auth": "psk"}}}),
        ("load-conn", {"a": {"local": {"auth": "eap-mschapv2"}, "remote": {"auth": "psk"}}}),   # EAP is not supported: said so
        ("unload-conn", {}),
        ("unload-conn", {"name": "never-loaded"}),
        ("load-shared", {"type": "IKE"}),
        ("load-shared", {"type": "IKE", "data": "x", "owners": ["not an identity @@@ =="]}),
        ("load-shared", {"type": "WHAT", "data": "x"}),
        ("load-cert", {"type": "X509", "flag": "CA", "data": b"\x30\x03garbage"}),
        ("load-key", {"type": "rsa", "data": b"-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n"}),
        ("load-authority", {"x": {"cacert": b"junk"}}),
        ("unload-key", {"id": "00"}),
        ("install", {"child": "nope"}),
        ("uninstall", {"child": "nope"}),
        ("initiate", {"child": "nope"}),
        ("terminate", {}),
        ("redirect", {"ike": "x", "gateway": "192.0.2.9"}),
        ("get-counters", {"name": "x"}),
    ]
    for cmd, msg in bad:
        try:
            s.request(cmd, msg)
        except vici.exception.CommandException as e:
            assert str(e), cmd
            continue
        pytest.fail(f"{cmd} {msg} succeeded")
    assert t.alive()
    assert s.get_conns()["conns"] == []
    key = subprocess.run(["pki", "--gen", "--type", "ecdsa", "--size", "256"], capture_output=True, check=True).stdout
    keyid = s.load_key({"type": "ecdsa", "data": key})["id"]
    assert s.get_keys()["keys"] == [keyid]
    # charon names a key by the SHA-1 of its subjectPublicKey, as `pki --keyid` prints "subjkey".
    kf = harness.write_private("k.der", "")
    kf.write_bytes(key)
    ids = subprocess.run(["pki", "--keyid", "--in", str(kf), "--type", "ecdsa"], capture_output=True, check=True).stdout.decode()
    subjkey = re.search(r"subjkey.*:\s*\n\s*([0-9a-f:]+)", ids).group(1).replace(":", "")
    assert keyid.decode() == subjkey, (keyid, ids)
    s.unload_key({"id": keyid})
    assert s.get_keys()["keys"] == []
    algs = s.get_algorithms()
    assert "AES_GCM_16" in algs["aead"] and "CURVE_25519" in algs["dh"], algs
    assert s.get_counters()["counters"][""]["ike-init-in-req"] == b"0"


def test_vici_connections_replace_file_ones_by_name_and_survive_reload(harness, pair, vici_pair):
    vici = pytest.importorskip("vici")
    _, tb = vici_pair   # B runs its file's "to-a"
    sock = socket.socket(socket.AF_UNIX)
    sock.connect(str(tb.sock))
    s = vici.Session(sock)

    def rekey_time():
        conns = [c for c in s.list_conns() if "to-a" in c]
        assert len(conns) == 1, conns
        return conns[0]["to-a"]["rekey_time"]

    assert rekey_time() == b"14400" and s.get_conns()["conns"] == []
    s.load_conn({"to-a": {"remote_addrs": [pair.a.outer4], "rekey_time": "1234",
                          "local": {"auth": "psk", "id": "b.example.com"}, "remote": {"auth": "psk", "id": "a.example.com"},
                          "children": {"net": {"local_ts": [pair.b.inner4 + "/32"], "remote_ts": [pair.a.inner4 + "/32"]}}}})
    wait_for(lambda: rekey_time() == b"1234", timeout=5, what="VICI connection replaces the file's")
    tb.tern("reload")
    assert rekey_time() == b"1234"      # re-reading the file keeps the VICI connection on top
    s.unload_conn({"name": "to-a"})
    wait_for(lambda: rekey_time() == b"14400", timeout=5, what="the file's connection is back")


def test_concurrent_swanctl_initiates_each_wait_for_their_own_sa(harness, pair, tern_bins):
    """20 `swanctl --initiate --child net` at once (ternd --no-reuse-ikesa: one IKE SA each) and
    3 of a child B refuses, while B's namespace drops every 5th IKE datagram so some attempts
    retransmit. Every call reports its own outcome: no call returns success before as many CHILD
    SAs are installed as calls have succeeded (the defect: all returned when the first came up),
    the refused ones fail with the reason, and their failure fails no other call."""
    ca, cb = ike.pair_confs(pair)
    refused = f"""            refused {{
                local_ts = {pair.a.inner4}/32
                remote_ts = 198.51.100.200/32
                esp_proposals = aes256gcm16
            }}
"""
    ca = ca.replace("        children {\n", "        children {\n" + refused, 1)
    tb = ike.start_ternd(harness, pair.b.ns, cb, label="ternd-b", extra=["--retransmit-tries", "5"])
    ta = ike.start_ternd(harness, pair.a.ns, ca, label="ternd-a",
                         extra=["--no-reuse-ikesa", "--retransmit-tries", "5"])
    pair.b.ns.exec(["iptables", "-A", "INPUT", "-p", "udp", "--dport", "500",
                    "-m", "statistic", "--mode", "nth", "--every", "5", "--packet", "0", "-j", "DROP"])
    try:
        import vici
        def installed_net() -> int:
            s = socket.socket(socket.AF_UNIX)
            s.connect(str(ta.sock))
            try:
                return sum(1 for sa in vici.Session(s).list_sas() for ike_sa in sa.values()
                           for c in ike_sa.get("child-sas", {}).values()
                           if c.get("name") == b"net" and c.get("state") == b"INSTALLED")
            finally:
                s.close()
        calls = [("net", subprocess.Popen(["swanctl", "--initiate", "--child", "net", "--timeout", "60",
                                           "--uri", f"unix://{ta.sock}"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT))
                 for _ in range(20)]
        calls += [("refused", subprocess.Popen(["swanctl", "--initiate", "--child", "refused", "--timeout", "60",
                                                "--uri", f"unix://{ta.sock}"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT))
                  for _ in range(3)]
        t0 = time.monotonic()
        done: dict[int, tuple[int, float, str]] = {}
        succeeded = 0
        while len(done) < len(calls):
            assert time.monotonic() - t0 < 80, f"{len(calls) - len(done)} initiates still running after 80 s"
            for i, (child, p) in enumerate(calls):
                if i in done or p.poll() is None:
                    continue
                took = time.monotonic() - t0
                done[i] = (p.returncode, took, p.stdout.read().decode(errors="replace"))
                if p.returncode == 0:
                    succeeded += 1
                    up = installed_net()
                    assert up >= succeeded, (f"{succeeded} initiates returned success after {took:.2f} s but only "
                                             f"{up} CHILD SAs net are installed")
            time.sleep(0.02)
        drops = pair.b.ns.exec(["iptables", "-L", "INPUT", "-v", "-x", "-n"]).stdout.decode()
    finally:
        pair.b.ns.exec(["iptables", "-F", "INPUT"], check=False)
    nets = [done[i] for i, (c, _) in enumerate(calls) if c == "net"]
    refusals = [done[i] for i, (c, _) in enumerate(calls) if c == "refused"]
    print("net initiates (s):", sorted(round(t, 2) for _, t, _ in nets),
          "refused:", sorted(round(t, 2) for _, t, _ in refusals))
    assert all(rc == 0 for rc, _, _ in nets), [out for rc, _, out in nets if rc != 0][:2]
    assert all(rc != 0 for rc, _, _ in refusals), [out for rc, _, out in refusals]
    assert all("TS_UNACCEPTABLE" in out or "refused" in out.lower() for _, _, out in refusals), refusals[0][2]
    assert installed_net() == 20
    # The drops made some initiations retransmit: their calls returned later than the rest.
    assert max(t for _, t, _ in nets) >= 0.9, f"no initiate waited for a retransmission: {drops}"
