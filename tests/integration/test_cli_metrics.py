"""Operations: ternd's Prometheus endpoint and JSON logs during a ternd<->ternd tunnel, and the
swanctl-like `tern` commands (load-all, initiate, list-*, stats, counters, log) against
strongSwan's charon, which speaks the VICI protocol `tern` is a client of."""
import json
import re
import signal
import subprocess
import sys

import pytest

import ike_setups as ike
from netns import tern_bin_dir, wait_for
from strongswan import psk_config

pytestmark = pytest.mark.needs_ternd

METRICS_PORT = 9109

# Scrapes from inside the namespace: GET path, print status line and body.
SCRAPE = r"""
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
data = b""
try:
    s.sendall(sys.argv[2].encode())
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
except ConnectionResetError:
    pass
sys.stdout.write(data.decode())
"""


def http(ns, request: str) -> str:
    return ns.exec([sys.executable, "-c", SCRAPE, str(METRICS_PORT), request]).stdout.decode()


def scrape(ns) -> dict[str, float]:
    """Samples by their full name with labels, e.g. 'tern_drops_total{reason="replay"}'."""
    text = http(ns, "GET /metrics HTTP/1.0\r\n\r\n")
    head, _, body = text.partition("\r\n\r\n")
    assert head.startswith("HTTP/1.0 200"), text[:300]
    assert "text/plain; version=0.0.4" in head
    samples = {}
    for line in body.splitlines():
        if not line or line.startswith("#"):
            continue
        name, value = line.rsplit(" ", 1)
        samples[name] = float(value)
    return samples


def find(samples: dict[str, float], family: str, **labels) -> list[float]:
    out = []
    for k, v in samples.items():
        if k.split("{", 1)[0] != family:
            continue
        got = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', k))
        if all(got.get(lk) == lv for lk, lv in labels.items()):
            out.append(v)
    return out


def test_metrics_counters_move_with_traffic_and_json_logs_parse(harness, pair, tern_bins):
    ca, cb = ike.pair_confs(pair, conn_extra="dpd_delay = 2s")
    tb = ike.start_ternd(harness, pair.b.ns, cb, label="ternd-b")
    ta = ike.start_ternd(harness, pair.a.ns, ca, label="ternd-a",
                         extra=["--metrics", f"127.0.0.1:{METRICS_PORT}", "--log-format", "json"])
    before = scrape(pair.a.ns)
    assert find(before, "tern_ike_sas", state="ESTABLISHED") == [0]
    assert find(before, "tern_drops_total", reason="replay") == [0]
    assert not find(before, "tern_sa_packets_total")

    ta.tern("initiate", "--child", "net", timeout=30)
    ike.wait_child(ta)
    ike.wait_child(tb)
    up = scrape(pair.a.ns)
    assert find(up, "tern_ike_sas", state="ESTABLISHED") == [1]
    assert find(up, "tern_ike_established_total", connection="to-b") == [1]
    out0 = find(up, "tern_sa_packets_total", direction="out", connection="to-b", child="net")
    in0 = find(up, "tern_sa_packets_total", direction="in", connection="to-b", child="net")
    assert len(out0) == 1 and len(in0) == 1, up

    pair.a.ns.ping(pair.b.inner4, src=pair.a.inner4, count=20, size=1000)
    after = scrape(pair.a.ns)
    out1 = find(after, "tern_sa_packets_total", direction="out", connection="to-b", child="net")
    in1 = find(after, "tern_sa_packets_total", direction="in", connection="to-b", child="net")
    assert out1[0] - out0[0] >= 20 and in1[0] - in0[0] >= 20, (out0, out1, in0, in1)
    bytes_out = find(after, "tern_sa_bytes_total", direction="out", connection="to-b", child="net")
    assert bytes_out[0] >= 20 * 1000, bytes_out
    assert find(after, "tern_sa_integrity_failures_total", direction="in", connection="to-b") == [0]
    assert find(after, "tern_sa_replay_drops_total", direction="in", connection="to-b") == [0]
    # The IKE intake and the control socket are visible too (issue 17).
    assert find(after, "tern_ike_intake_depth", **{"class": "new"}) == [0], after
    assert find(after, "tern_ike_intake_dropped_total", **{"class": "established"}) == [0]
    assert find(after, "tern_ike_lookups_total", outcome="failed") == [0]
    assert find(after, "tern_vici_clients_accepted_total")[0] >= 3
    assert find(after, "tern_vici_clients_closed_total", reason="evicted") == [0]

    # A CHILD rekey is counted, and the new SA carries the labels.
    ta.tern("rekey", "--child", "net", timeout=20)
    wait_for(lambda: find(scrape(pair.a.ns), "tern_child_rekeys_total", connection="to-b") == [1],
             what="child rekey counted")

    # Bad requests get an error, and the server keeps serving.
    assert http(pair.a.ns, "GET /nope HTTP/1.0\r\n\r\n").startswith("HTTP/1.0 404")
    assert http(pair.a.ns, "POST /metrics HTTP/1.0\r\n\r\n").startswith("HTTP/1.0 405")
    assert http(pair.a.ns, "garbage\r\n\r\n").startswith("HTTP/1.0 400")
    assert http(pair.a.ns, "G" * 20000) == ""  # no end of header within the limit: closed without an answer
    assert find(scrape(pair.a.ns), "tern_ike_sas", state="ESTABLISHED") == [1]
    assert not find(scrape(pair.a.ns), "tern_sa_replay_drops_total", direction="out")

    # The peer vanishes: DPD gives up on it, and the SA is gone from the gauges.
    assert find(scrape(pair.a.ns), "tern_dpd_failures_total", connection="to-b") == []
    tb.stop(signal.SIGKILL)
    wait_for(lambda: find(scrape(pair.a.ns), "tern_dpd_failures_total", connection="to-b") == [1], timeout=60,
             what="DPD failure counted")
    final = scrape(pair.a.ns)
    assert find(final, "tern_ike_sas", state="ESTABLISHED") == [0]
    assert not find(final, "tern_sa_packets_total")

    # Every line of ternd-a's log is one JSON object with the promised keys.
    lines = [ln for ln in ta.err_path.read_text().splitlines() if ln.strip()]
    assert lines
    records = [json.loads(ln) for ln in lines]
    for r in records:
        assert {"time", "level", "subsystem", "message"} <= r.keys(), r
    assert any(r["subsystem"] == "ternd.ike" and "established" in r["message"] for r in records)


def tern(sock, *args, check=True, timeout=30):
    vici = ["--vici", str(sock)] if sock else []
    p = subprocess.run([str(tern_bin_dir() / "tern")] + vici + list(args), capture_output=True, timeout=timeout)
    if check and p.returncode != 0:
        raise AssertionError(f"tern {' '.join(args)} exited {p.returncode}:\n{p.stdout.decode()}\n{p.stderr.decode()}")
    return p


def test_tern_drives_charon_like_swanctl(harness, pair, start_charon, tern_bins):
    a, b = pair.a, pair.b
    conf_a = ike.conn("to-b", local_addr=a.outer4, remote_addr=b.outer4, local_id="a.example.com",
                      remote_id="b.example.com", local_ts=a.inner4 + "/32", remote_ts=b.inner4 + "/32")
    ike.start_ternd(harness, a.ns, conf_a, label="ternd-a")
    charon = start_charon(b.ns, None)
    conf_b = psk_config("to-a", local_addr=b.outer4, remote_addr=a.outer4, local_id="b.example.com",
                        remote_id="a.example.com", local_ts=b.inner4 + "/32", remote_ts=a.inner4 + "/32",
                        psk=ike.PSK)
    conf_b += "pools {\n    vpool {\n        addrs = 10.99.0.0/28\n        dns = 192.0.2.53\n    }\n}\n"
    # Credentials beside the file, as swanctl expects them: a CA certificate and its key.
    d = charon.workdir / "tern-conf"
    (d / "x509ca").mkdir(parents=True)
    (d / "private").mkdir()
    key = tern(None, "pki", "--gen", "--type", "ecdsa", "--size", "256", "--outform", "pem").stdout
    (d / "private" / "ca.pem").write_bytes(key)
    cert = tern(None, "pki", "--self", "--ca", "--in", str(d / "private" / "ca.pem"),
                "--dn", "CN=Tern Test CA", "--outform", "pem").stdout
    (d / "x509ca" / "ca.pem").write_bytes(cert)
    conf = d / "swanctl.conf"
    conf.write_text(conf_b)
    conf.chmod(0o600)

    out = tern(charon.sock, "load-all", "--noprompt", "--file", str(conf)).stdout.decode()
    assert "loaded connection 'to-a'" in out and "successfully loaded 1 connections, 0 unloaded" in out, out
    assert "loaded ike secret 'ike-to-a'" in out and "loaded pool 'vpool'" in out, out
    assert "loaded certificate from" in out and "loaded key from" in out, out
    assert "to-a:" in charon.swanctl("--list-conns")
    assert "vpool" in charon.swanctl("--list-pools")
    assert "CN=Tern Test CA" in charon.swanctl("--list-certs")

    # tern's listings read the same state.
    text = tern(charon.sock, "list-conns").stdout.decode()
    assert "to-a: IKEv2" in text and b.inner4 + "/32" in text and a.outer4 in text, text
    conns = json.loads(tern(charon.sock, "list-conns", "--json").stdout)
    assert conns[0]["name"] == "to-a" and conns[0]["children"]["net"]["mode"] == "TUNNEL", conns
    assert "CN=Tern Test CA" in tern(charon.sock, "list-certs").stdout.decode()
    assert json.loads(tern(charon.sock, "list-certs", "--json").stdout)[0]["flag"] == "CA"
    assert "vpool" in tern(charon.sock, "list-pools").stdout.decode()
    assert json.loads(tern(charon.sock, "list-pools", "--json").stdout)["vpool"]["base"] == "10.99.0.0"

    # `log` follows events: start it, wait until it is registered, then bring the tunnel up.
    log_out, log_err = harness.artifacts / "tern-log.out", harness.artifacts / "tern-log.err"
    with open(log_out, "wb") as fo, open(log_err, "wb") as fe:
        follower = subprocess.Popen([str(tern_bin_dir() / "tern"), "--vici", str(charon.sock), "log", "--timeout", "20"],
                                    stdout=fo, stderr=fe)
    try:
        wait_for(lambda: "following" in log_err.read_text(), what="tern log registered")
        # initiate streams charon's negotiation log while it waits.
        init = tern(charon.sock, "initiate", "--child", "net").stdout.decode()
        assert "initiate completed successfully" in init and "[IKE]" in init, init
        wait_for(lambda: "CHILD_SA up" in log_out.read_text(), what="child-updown event in tern log")
        assert "[IKE]" in log_out.read_text()
    finally:
        follower.terminate()
        follower.wait(timeout=10)
    b.ns.ping(a.inner4, src=b.inner4, count=3)

    sas = json.loads(tern(charon.sock, "list-sas", "--json").stdout)
    assert sas[0]["name"] == "to-a" and sas[0]["state"] == "ESTABLISHED", sas
    stats = tern(charon.uri, "stats").stdout.decode()  # swanctl's --uri spelling works too
    assert "IKE_SAs: 1 total" in stats, stats
    counters = json.loads(tern(charon.sock, "counters", "--all", "--json").stdout)
    assert int(counters["to-a"]["ike-init-out-req"]) >= 1, counters
    assert "ike-init-out-req" in tern(charon.sock, "counters", "--name", "to-a").stdout.decode()
    assert json.loads(tern(charon.sock, "list-pols", "--json").stdout) == []

    # A failed negotiation is exit code 70; an unknown connection too; no daemon is 69.
    assert tern(charon.sock, "initiate", "--child", "nosuch", check=False).returncode == 70
    assert tern(harness.sockdir / "nothing.vici", "stats", check=False).returncode == 69
    assert tern(charon.sock, "stats", "--bogus", check=False).returncode == 64

    # Connections no longer in the file are unloaded, as swanctl does.
    tern(charon.sock, "terminate", "--ike", "to-a")
    conf.write_text(conf_b.replace("connections {", "nothing {", 1))
    out = tern(charon.sock, "load-conns", "--file", str(conf)).stdout.decode()
    assert "unloaded connection 'to-a'" in out and "no connections found, 1 unloaded" in out, out
    assert "to-a" not in charon.swanctl("--list-conns")
