"""IKE_SA_INIT floods inside test namespaces: topology, packets, the sender, and what to measure.

Used by tests/integration/test_hostile_load.py and bench/ike_flood.py.

Topology (three namespaces, two veths; make_flood_topology adds F to a netns.make_pair):

    legit (L = A) 192.0.2.1 ── 192.0.2.2 responder (R = B) 203.0.113.130/25 ── 203.0.113.129 flooder (F)
    inner 203.0.113.1 on lo             inner 198.51.100.1 on lo

- F routes 192.0.2.0/24 via R and sends raw IPv4/UDP datagrams with spoofed sources: random ones
  from 198.18.0.0/15 (benchmarking range), or L's own address 192.0.2.1 (the lockout scenario).
- R routes 198.18.0.0/15 back to F, which drops the answers (it does not forward), and has
  rp_filter off so that L's address arriving from F is accepted, as on a real multi-homed host.
- R's answers to spoofed 192.0.2.1 go to L, whose daemon ignores SPIs it does not know.
Nothing leaves these namespaces: every address is one of theirs or routed between them.

The sender (tools/ike_flood_sender.c, compiled on first use with cc) puts a fresh initiator SPI
and nonce prefix into every datagram and is bounded in rate and time (it stops by itself).
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import shutil
import socket
import struct
import sys
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

from netns import TOOLS, Harness, HarnessError, NetNS, Pair, Proc, make_pair, run, wait_for

SENDER_SOURCE = TOOLS / "ike_flood_sender.c"
SPOOF_NET = "198.18.0.0/15"
CLK_TCK = os.sysconf("SC_CLK_TCK")


@dataclass
class FloodTopology:
    pair: Pair         # L = pair.a, R = pair.b (netns.make_pair's addresses)
    flooder: NetNS     # F: the spoofing sender
    resp_flood_addr: str = "203.0.113.130"   # R on F's side: no IKE connection is configured for it
    flooder_addr: str = "203.0.113.129"

    @property
    def legit(self) -> NetNS:
        return self.pair.a.ns

    @property
    def resp(self) -> NetNS:
        return self.pair.b.ns

    @property
    def legit_addr(self) -> str:
        return self.pair.a.outer4

    @property
    def resp_addr(self) -> str:
        return self.pair.b.outer4

    @property
    def legit_inner(self) -> str:
        return self.pair.a.inner4

    @property
    def resp_inner(self) -> str:
        return self.pair.b.inner4


def _permanent_neighbours(x: NetNS, x_dev: str, x_addr: str, y: NetNS, y_dev: str, y_addr: str):
    """No ARP between the two ends of a veth: a flood must not be slowed (or a test made flaky)
    by neighbour resolution."""
    mac = lambda ns, dev: json.loads(ns.ip("-j", "link", "show", dev).stdout)[0]["address"]
    x.ip("neigh", "replace", y_addr, "lladdr", mac(y, y_dev), "dev", x_dev, "nud", "permanent")
    y.ip("neigh", "replace", x_addr, "lladdr", mac(x, x_dev), "dev", y_dev, "nud", "permanent")


def make_flood_topology(h: Harness, pair: Optional[Pair] = None) -> FloodTopology:
    """Adds the flooder F to a pair (a new one unless given): L is the pair's A, R its B."""
    pair = pair or make_pair(h)
    t = FloodTopology(pair, h.netns("flood"))
    h.veth(t.flooder, t.resp, name_a="veth0", name_b="vflood")
    t.resp.add_addr("vflood", t.resp_flood_addr + "/25")
    t.flooder.add_addr("veth0", t.flooder_addr + "/25")
    _permanent_neighbours(t.flooder, "veth0", t.flooder_addr, t.resp, "vflood", t.resp_flood_addr)
    t.flooder.ip("route", "add", "192.0.2.0/24", "via", t.resp_flood_addr)
    t.resp.ip("route", "add", SPOOF_NET, "via", t.flooder_addr)
    for k in ("all", "default", "veth0", "vflood"):
        t.resp.exec(["sysctl", "-qw", f"net.ipv4.conf.{k}.rp_filter=0"])
    wait_for(lambda: t.flooder.ping(t.resp_addr, count=1, check=False).returncode == 0, timeout=10,
             what="flooder -> responder ping")
    return t


# ---- the datagram -----------------------------------------------------------------------------

def ike_sa_init_request(spi: bytes = b"\0" * 8) -> tuple[bytes, int]:
    """A well-formed IKE_SA_INIT request (RFC 7296) offering aes256gcm16-prfsha256-x25519, the
    proposal both responders are configured with, so each datagram costs a responder a full
    look at it (and a key exchange where it creates state). Returns (bytes, nonce offset)."""
    def transform(last: bool, ttype: int, tid: int, attrs: bytes = b"") -> bytes:
        return struct.pack("!BBHBBH", 0 if last else 3, 0, 8 + len(attrs), ttype, 0, tid) + attrs
    transforms = (transform(False, 1, 20, struct.pack("!HH", 0x800E, 256))   # ENCR_AES_GCM_16, 256 bits
                  + transform(False, 2, 5)                                   # PRF_HMAC_SHA2_256
                  + transform(True, 4, 31))                                  # DH curve25519
    proposal = struct.pack("!BBHBBBB", 0, 0, 8 + len(transforms), 1, 1, 0, 3) + transforms
    sa = struct.pack("!BBH", 34, 0, 4 + len(proposal)) + proposal           # next: KE
    ke_data = struct.pack("!HH", 31, 0) + secrets.token_bytes(32)
    ke = struct.pack("!BBH", 40, 0, 4 + len(ke_data)) + ke_data              # next: Nonce
    nonce = secrets.token_bytes(32)
    nonce_p = struct.pack("!BBH", 0, 0, 4 + len(nonce)) + nonce
    body = sa + ke + nonce_p
    header = spi + b"\0" * 8 + struct.pack("!BBBBII", 33, 0x20, 34, 0x08, 0, 28 + len(body))
    msg = header + body
    return msg, 28 + len(sa) + len(ke) + 4


def sender_binary(cache: Path = Path("/tmp/tern-flood-sender")) -> Path:
    """Compiles tools/ike_flood_sender.c once per source version (cc -O2)."""
    src = SENDER_SOURCE.read_bytes()
    out = cache / hashlib.sha256(src).hexdigest()[:16] / "ike_flood_sender"
    if out.exists():
        return out
    cc = (shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
          or next((c for c in ("/opt/swift/usr/bin/clang",) if os.path.exists(c)), None))
    if cc is None:
        raise HarnessError("no C compiler (cc, gcc or clang) to build the flood sender")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(f".tmp{os.getpid()}")
    run([cc, "-O2", "-Wall", "-o", str(tmp), str(SENDER_SOURCE)], timeout=120)
    os.replace(tmp, out)
    return out


class Flood:
    """One bounded flood from F: `rate` datagrams/s (0: as fast as the kernel takes them) for
    `seconds`, to dst:500, from random sources in SPOOF_NET or from one fixed `src`."""

    def __init__(self, h: Harness, topo: FloodTopology, *, rate: int, seconds: float, dst: Optional[str] = None,
                 src: Optional[str] = None, label: str = "flood"):
        msg, nonce_off = ike_sa_init_request()
        argv = [str(sender_binary()), "--dst", dst or topo.resp_addr, "--rate", str(rate), "--seconds", str(seconds),
                "--ike", msg.hex(), "--nonce-offset", str(nonce_off)]
        argv += ["--src", src] if src else ["--src-net", SPOOF_NET]
        self.rate, self.seconds = rate, seconds
        self.started = time.monotonic()
        self.proc: Proc = h.spawn(label, topo.flooder.cmd(argv))

    def running(self) -> bool:
        return self.proc.alive()

    def result(self, timeout: Optional[float] = None) -> dict:
        """{"sent", "seconds", "rate", "errors"} once the sender has stopped by itself."""
        rc = self.proc.wait(timeout=timeout if timeout is not None else self.seconds + 30)
        m = re.search(r"sent (\d+) seconds ([\d.]+) rate (\d+) errors (\d+)", self.proc.stdout())
        if rc != 0 or not m:
            raise HarnessError(f"flood sender failed (exit {rc})\n{self.proc.describe()}")
        return {"sent": int(m.group(1)), "seconds": float(m.group(2)), "rate": int(m.group(3)),
                "errors": int(m.group(4))}


# ---- what to measure ----------------------------------------------------------------------------

def udp_counters(ns: NetNS) -> dict[str, int]:
    """The namespace's Udp line of /proc/net/snmp (InDatagrams, InErrors, RcvbufErrors, ...)."""
    lines = [l.split() for l in ns.exec(["cat", "/proc/net/snmp"]).stdout.decode().splitlines() if l.startswith("Udp:")]
    return {k: int(v) for k, v in zip(lines[0][1:], lines[1][1:])}


def rss_kb(pid: int) -> int:
    m = re.search(r"^VmRSS:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text(), re.M)
    return int(m.group(1)) if m else 0


def hwm_kb(pid: int) -> int:
    m = re.search(r"^VmHWM:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text(), re.M)
    return int(m.group(1)) if m else 0


def reset_hwm(pid: int):
    """Resets VmHWM (peak RSS) to the current RSS (clear_refs 5)."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        pass


def cpu_seconds(pid: int) -> float:
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK   # utime + stime


def renice(pid: int, nice: int):
    """Sets every thread of pid to this nice value (setpriority acts on one thread on Linux);
    threads the process creates later inherit it from their creators."""
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            os.setpriority(os.PRIO_PROCESS, int(tid), nice)
        except (ProcessLookupError, PermissionError):
            pass


def line_count(path: Path) -> int:
    try:
        with open(path, "rb") as f:
            return sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 20), b""))
    except FileNotFoundError:
        return 0


class Sampler:
    """Calls fn() every `interval` seconds in a thread until stop(); keeps (t, value) pairs.
    Exceptions count as a sample of None (with the error kept in `errors`)."""

    def __init__(self, fn: Callable[[], object], interval: float):
        self.fn, self.interval = fn, interval
        self.samples: list[tuple[float, object]] = []
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)
        self.t0 = time.monotonic()
        self._t.start()

    def _run(self):
        while not self._stop.is_set():
            t = time.monotonic()
            try:
                v = self.fn()
            except Exception as e:   # recorded, the caller decides what a failed sample means
                v = None
                self.errors.append(repr(e))
            self.samples.append((t - self.t0, v))
            self._stop.wait(max(0.0, self.interval - (time.monotonic() - t)))

    def stop(self) -> list[tuple[float, object]]:
        self._stop.set()
        self._t.join(timeout=60)
        return self.samples

    def values(self) -> list:
        return [v for _, v in self.samples if v is not None]


class LineRate:
    """Lines appended to a log file, counted once a second: per-second counts (and the lines
    themselves, optionally filtered, for a test that looks at what they say)."""

    def __init__(self, path: Path):
        self.path = path
        self.start = line_count(path)
        self._last = self.start
        self.per_second: list[int] = []
        self._sampler = Sampler(self._tick, 1.0)

    def _tick(self):
        n = line_count(self.path)
        self.per_second.append(n - self._last)
        self._last = n
        return n

    def stop(self) -> list[int]:
        self._sampler.stop()
        return self.per_second[1:]   # the first sample is at t=0 (nothing yet)

    @property
    def total(self) -> int:
        return self._last - self.start


def timed(fn: Callable[[], object]) -> float:
    """Wall-clock seconds fn() took."""
    t = time.monotonic()
    fn()
    return time.monotonic() - t


def tern_list_sas_seconds(tern: Path, sock: Path, timeout: float = 60, nice: int = 0) -> float:
    """Wall time of one `tern list-sas` (the command an operator types), failing on a non-zero exit;
    `nice` < 0 runs it at that higher priority."""
    pre = (lambda: os.setpriority(os.PRIO_PROCESS, 0, nice)) if nice else None
    t = time.monotonic()
    p = subprocess.run([str(tern), "--vici", str(sock), "list-sas"], capture_output=True, timeout=timeout,
                       preexec_fn=pre)
    dt = time.monotonic() - t
    if p.returncode != 0:
        raise HarnessError(f"tern list-sas exit {p.returncode}: {p.stderr.decode(errors='replace')[-300:]}")
    return dt


def swanctl_list_sas_seconds(uri: str, timeout: float = 60) -> float:
    t = time.monotonic()
    p = subprocess.run(["swanctl", "--list-sas", "--uri", uri], capture_output=True, timeout=timeout)
    dt = time.monotonic() - t
    if p.returncode != 0:
        raise HarnessError(f"swanctl --list-sas exit {p.returncode}: {p.stderr.decode(errors='replace')[-300:]}")
    return dt


def vici_list_sas_seconds(sock: str, timeout: float = 60) -> float:
    """Wall time of connecting to a VICI socket and running list-sas to the end (python vici):
    the daemon's share of a list command, without the command-line tool's start-up."""
    import vici
    t = time.monotonic()
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(timeout)
    try:
        s.connect(sock)
        for _ in vici.Session(s).list_sas():
            pass
    finally:
        s.close()
    return time.monotonic() - t


def metrics_text(ns: NetNS, hostport: str, timeout: float = 30) -> str:
    """ternd's Prometheus text from inside its namespace (python's urllib: no curl needed)."""
    code = ("import sys, urllib.request; "
            f"sys.stdout.write(urllib.request.urlopen('http://{hostport}/metrics', timeout={timeout}).read().decode())")
    return ns.exec([sys.executable, "-c", code], timeout=timeout + 10).stdout.decode(errors="replace")
