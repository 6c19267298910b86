"""Network-namespace test hosts, ternd processes and wait helpers for Tern's integration tests.

Everything here is owned by the test that created it: namespaces carry a random `tt-` name,
processes are tracked by PID and only those PIDs are ever signalled. `Harness.close()` undoes
everything and is called from a fixture finalizer, so it runs when a test fails too.

Addresses are limited to the documentation ranges (192.0.2.0/24, 198.51.100.0/24,
203.0.113.0/24, 2001:db8::/32) inside namespaces created here, and loopback.
"""
from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

REPO = Path(__file__).resolve().parents[2]
TOOLS = Path(__file__).resolve().parent / "tools"
PREFIX = "tt-"

# Namespaces created by this process; an atexit/session hook deletes any a crashed test left.
_LIVE_NAMESPACES: set[str] = set()


class HarnessError(AssertionError):
    """A harness step failed; the message carries the command output and daemon logs."""


def tern_bin_dir() -> Path:
    return Path(os.environ.get("TERN_BIN_DIR", REPO / ".build" / "debug"))


def run(cmd: list[str], *, check: bool = True, timeout: float = 30, input: Optional[bytes] = None,
        env: Optional[dict] = None) -> subprocess.CompletedProcess:
    try:
        p = subprocess.run(cmd, capture_output=True, timeout=timeout, input=input, env=env)
    except subprocess.TimeoutExpired as e:
        raise HarnessError(f"timed out after {timeout}s: {' '.join(cmd)}\nstdout: {_s(e.stdout)}\nstderr: {_s(e.stderr)}")
    if check and p.returncode != 0:
        raise HarnessError(f"exit {p.returncode}: {' '.join(cmd)}\nstdout: {_s(p.stdout)}\nstderr: {_s(p.stderr)}")
    return p


def _s(b) -> str:
    if b is None:
        return ""
    return b.decode(errors="replace") if isinstance(b, bytes) else str(b)


def wait_for(pred: Callable[[], object], *, timeout: float = 10.0, interval: float = 0.02,
             what: str = "condition", diag: Callable[[], str] = lambda: "") -> object:
    """Polls pred() until it returns something truthy; returns that value.

    Exceptions raised by pred count as 'not yet'; the last one is shown on timeout.
    The poll interval backs off from 20 ms to 200 ms."""
    deadline = time.monotonic() + timeout
    last_exc: Optional[BaseException] = None
    while True:
        try:
            v = pred()
            if v:
                return v
            last_exc = None
        except HarnessError as e:  # a failing command: keep polling
            last_exc = e
        except (OSError, ValueError, KeyError, IndexError, json.JSONDecodeError) as e:
            last_exc = e
        if time.monotonic() >= deadline:
            msg = f"timed out after {timeout}s waiting for {what}"
            if last_exc is not None:
                msg += f"\nlast error: {last_exc}"
            d = diag()
            if d:
                msg += "\n" + d
            raise HarnessError(msg)
        time.sleep(interval)
        interval = min(interval * 1.5, 0.2)


# ---------------------------------------------------------------------------------------------
# Namespaces

class NetNS:
    def __init__(self, harness: "Harness", label: str):
        self.harness = harness
        self.label = label
        self.name = f"{PREFIX}{label}-{secrets.token_hex(3)}"
        run(["ip", "netns", "add", self.name])
        _LIVE_NAMESPACES.add(self.name)
        self.ip("link", "set", "lo", "up")
        # No IPv6 DAD delays and no router solicitations in test hosts.
        for k in ("net.ipv6.conf.all.accept_dad=0", "net.ipv6.conf.default.accept_dad=0",
                  "net.ipv6.conf.all.forwarding=0"):
            self.exec(["sysctl", "-qw", k], check=False)

    def __repr__(self):
        return f"NetNS({self.name})"

    def cmd(self, argv: list[str]) -> list[str]:
        return ["ip", "netns", "exec", self.name] + list(argv)

    def exec(self, argv: list[str], **kw) -> subprocess.CompletedProcess:
        return run(self.cmd(argv), **kw)

    def ip(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return run(["ip", "-n", self.name] + list(args), check=check)

    def add_addr(self, dev: str, cidr: str):
        args = ["addr", "add", cidr, "dev", dev]
        if ":" in cidr:
            args.append("nodad")
        self.ip(*args)

    def python(self, script: str, *args: str, timeout: float = 30, check: bool = True) -> subprocess.CompletedProcess:
        return self.exec([sys.executable, str(TOOLS / script)] + list(args), timeout=timeout, check=check)

    def ping(self, dst: str, *, src: Optional[str] = None, count: int = 3, size: Optional[int] = None,
             df: bool = False, pattern: Optional[str] = None, timeout: float = 20,
             check: bool = True) -> subprocess.CompletedProcess:
        argv = ["ping", "-n", "-c", str(count), "-i", "0.2", "-W", "2"]
        if ":" in dst:
            argv.insert(1, "-6")
        if src:
            argv += ["-I", src]
        if size is not None:
            argv += ["-s", str(size)]
        if df:
            argv += ["-M", "do"]
        if pattern:
            argv += ["-p", pattern]
        return self.exec(argv + [dst], timeout=timeout, check=check)

    def delete(self):
        run(["ip", "netns", "del", self.name], check=False)
        _LIVE_NAMESPACES.discard(self.name)


def cleanup_leftover_namespaces():
    for n in list(_LIVE_NAMESPACES):
        run(["ip", "netns", "del", n], check=False)
        _LIVE_NAMESPACES.discard(n)


# ---------------------------------------------------------------------------------------------
# Processes

class Proc:
    """A background process started by a test; stdout/stderr go to files in the test's directory."""

    def __init__(self, harness: "Harness", label: str, argv: list[str], *, env: Optional[dict] = None):
        self.harness = harness
        self.label = label
        self.argv = argv
        self.out_path = harness.artifacts / f"{label}.stdout"
        self.err_path = harness.artifacts / f"{label}.stderr"
        self._out = open(self.out_path, "wb")
        self._err = open(self.err_path, "wb")
        self.popen = subprocess.Popen(argv, stdout=self._out, stderr=self._err, stdin=subprocess.DEVNULL,
                                      env=env)
        self.pid = self.popen.pid
        harness.procs.append(self)

    def alive(self) -> bool:
        return self.popen.poll() is None

    def stdout(self) -> str:
        if not self._out.closed:
            self._out.flush()
        return self.out_path.read_text(errors="replace")

    def stderr(self) -> str:
        if not self._err.closed:
            self._err.flush()
        return self.err_path.read_text(errors="replace")

    def wait_output(self, regex: str, *, stream: str = "stdout", timeout: float = 10) -> re.Match:
        def pred():
            text = self.stdout() if stream == "stdout" else self.stderr()
            m = re.search(regex, text, re.M)
            if m:
                return m
            if not self.alive():
                raise HarnessError(f"{self.label} exited with {self.popen.returncode} before printing /{regex}/")
            return None
        return wait_for(pred, timeout=timeout, what=f"{self.label} to print /{regex}/ on {stream}",
                        diag=self.describe)

    def wait(self, timeout: float = 30) -> int:
        try:
            return self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise HarnessError(f"{self.label} (pid {self.pid}) still running after {timeout}s\n{self.describe()}")

    def send_signal(self, sig: int):
        if self.alive():
            os.kill(self.pid, sig)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10) -> Optional[int]:
        """Signals this PID (only this one) and waits; SIGKILL after the timeout."""
        if self.alive():
            try:
                os.kill(self.pid, sig)
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.kill(self.pid, signal.SIGKILL)
                self.popen.wait(timeout=10)
            except ProcessLookupError:
                pass
        self._out.close()
        self._err.close()
        return self.popen.returncode

    def describe(self, tail: int = 60) -> str:
        state = "running" if self.alive() else f"exited {self.popen.returncode}"
        err = "\n".join(self.stderr().splitlines()[-tail:])
        out = "\n".join(self.stdout().splitlines()[-tail:])
        s = f"--- {self.label} (pid {self.pid}, {state}): {' '.join(self.argv)}\n"
        if out:
            s += f"[stdout]\n{out}\n"
        if err:
            s += f"[stderr]\n{err}\n"
        return s


class Ternd(Proc):
    def __init__(self, harness: "Harness", ns: NetNS, setkey_files: list[Path], *, extra: list[str] = (),
                 label: Optional[str] = None, log_level: str = "debug", env: Optional[dict] = None):
        self.ns = ns
        self.setkey_files = list(setkey_files)
        self.sock = harness.sockdir / f"{ns.label}-{secrets.token_hex(2)}.vici"
        argv = [str(tern_bin_dir() / "ternd")]
        for f in setkey_files:
            argv += ["--setkey", str(f)]
        argv += ["--vici", str(self.sock), "--log-level", log_level] + list(extra)
        super().__init__(harness, label or f"ternd-{ns.label}", ns.cmd(argv),
                         env=None if env is None else {**os.environ, **env})

    def tern(self, *args: str, check: bool = True, timeout: float = 10) -> subprocess.CompletedProcess:
        return run([str(tern_bin_dir() / "tern"), "--vici", str(self.sock)] + list(args), check=check,
                   timeout=timeout)

    def state(self) -> dict:
        return json.loads(self.tern("state", "--json").stdout)

    def state_text(self) -> str:
        return self.tern("state", check=False).stdout.decode(errors="replace")

    def wait_ready(self, timeout: float = 20) -> dict:
        def pred():
            if not self.alive():
                raise _DaemonDied()
            if not self.sock.exists():
                return None
            return self.state()
        try:
            return wait_for(pred, timeout=timeout, what=f"{self.label} to become ready ({self.sock})",
                            diag=self.describe)
        except _DaemonDied:
            raise HarnessError(f"{self.label} exited with {self.popen.returncode} before it was ready\n"
                               + self.describe()) from None

    def wait_state(self, pred: Callable[[dict], object], *, timeout: float = 10, what: str = "state") -> dict:
        def p():
            st = self.state()
            return st if pred(st) else None
        return wait_for(p, timeout=timeout, what=f"{self.label}: {what}",
                        diag=lambda: self.describe() + "\n[tern state]\n" + self.state_text())

    # Lookups in a state dict
    @staticmethod
    def sa(state: dict, spi: int) -> dict:
        for sa in state["sas"]:
            if sa["spi"] == spi:
                return sa
        raise KeyError(f"no SA with SPI {spi:#x} in {[s['spi_hex'] for s in state['sas']]}")


class _DaemonDied(Exception):
    pass


# ---------------------------------------------------------------------------------------------
# The per-test harness

class Harness:
    def __init__(self, artifacts: Path):
        self.artifacts = artifacts
        self.artifacts.mkdir(parents=True, exist_ok=True)
        # Unix socket paths must stay under 108 bytes: keep them in a short private directory.
        self.sockdir = Path(tempfile.mkdtemp(prefix="tt-", dir="/tmp"))
        self.namespaces: list[NetNS] = []
        self.procs: list[Proc] = []

    def netns(self, label: str) -> NetNS:
        ns = NetNS(self, label)
        self.namespaces.append(ns)
        return ns

    def veth(self, a: NetNS, b: NetNS, *, name_a: str = "veth0", name_b: str = "veth0", mtu: int = 1500):
        tmp_a, tmp_b = f"tta{secrets.token_hex(4)}", f"ttb{secrets.token_hex(4)}"
        run(["ip", "link", "add", tmp_a, "mtu", str(mtu), "netns", a.name, "type", "veth", "peer", "name",
             tmp_b, "mtu", str(mtu), "netns", b.name])
        a.ip("link", "set", tmp_a, "name", name_a)
        b.ip("link", "set", tmp_b, "name", name_b)
        a.ip("link", "set", name_a, "up")
        b.ip("link", "set", name_b, "up")

    def spawn(self, label: str, argv: list[str], **kw) -> Proc:
        return Proc(self, label, argv, **kw)

    def ternd(self, ns: NetNS, setkey_files: list[Path], **kw) -> Ternd:
        return Ternd(self, ns, setkey_files, **kw)

    def write_private(self, name: str, text: str, mode: int = 0o600) -> Path:
        p = self.artifacts / name
        fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.chmod(p, mode)
        return p

    def ternd_logs(self) -> str:
        return "\n".join(p.describe() for p in self.procs if isinstance(p, Ternd))

    def all_logs(self) -> str:
        return "\n".join(p.describe() for p in self.procs)

    def close(self):
        errors = []
        for p in reversed(self.procs):
            try:
                p.stop()
            except Exception as e:  # keep tearing down
                errors.append(f"{p.label}: {e}")
        for ns in reversed(self.namespaces):
            ns.delete()
        shutil.rmtree(self.sockdir, ignore_errors=True)
        leftover = [ns.name for ns in self.namespaces
                    if ns.name in run(["ip", "netns", "list"], check=False).stdout.decode()]
        if leftover:
            errors.append(f"namespaces not deleted: {leftover}")
        if errors:
            raise HarnessError("teardown: " + "; ".join(errors))


# ---------------------------------------------------------------------------------------------
# Two hosts

@dataclass
class Site:
    ns: NetNS
    outer4: str
    outer6: str
    inner4: str
    inner6: str
    net4: str
    net6: str


@dataclass
class Pair:
    """Host A and host B joined by a veth; inner addresses on lo.

    A: 192.0.2.1/24, 2001:db8:1::1/64 on veth0; 203.0.113.1/32, 2001:db8:a::1/128 on lo
    B: 192.0.2.2/24, 2001:db8:1::2/64 on veth0; 198.51.100.1/32, 2001:db8:b::1/128 on lo
    """
    a: Site
    b: Site
    harness: Harness

    def outer(self, site: Site, family: int) -> str:
        return site.outer4 if family == 4 else site.outer6

    def inner(self, site: Site, family: int) -> str:
        return site.inner4 if family == 4 else site.inner6

    def net(self, site: Site, family: int) -> str:
        return site.net4 if family == 4 else site.net6


def make_pair(h: Harness, *, mtu: int = 1500) -> Pair:
    na, nb = h.netns("a"), h.netns("b")
    h.veth(na, nb, mtu=mtu)
    a = Site(na, "192.0.2.1", "2001:db8:1::1", "203.0.113.1", "2001:db8:a::1", "203.0.113.0/24", "2001:db8:a::/64")
    b = Site(nb, "192.0.2.2", "2001:db8:1::2", "198.51.100.1", "2001:db8:b::1", "198.51.100.0/24", "2001:db8:b::/64")
    for s in (a, b):
        s.ns.add_addr("veth0", s.outer4 + "/24")
        s.ns.add_addr("veth0", s.outer6 + "/64")
        s.ns.add_addr("lo", s.inner4 + "/32")
        s.ns.add_addr("lo", s.inner6 + "/128")
    # Permanent neighbour entries: no ARP/ND on the underlay during a test, so a transport-mode
    # policy between the underlay addresses cannot catch neighbour discovery and make tests flaky.
    macs = {s.ns.name: json.loads(s.ns.ip("-j", "link", "show", "veth0").stdout)[0]["address"] for s in (a, b)}
    for here, there in ((a, b), (b, a)):
        for addr in (there.outer4, there.outer6):
            here.ns.ip("neigh", "replace", addr, "lladdr", macs[there.ns.name], "dev", "veth0", "nud", "permanent")
    # The underlay must work before any test blames ternd.
    wait_for(lambda: na.ping(b.outer4, count=1, check=False).returncode == 0, timeout=10,
             what="underlay IPv4 ping")
    wait_for(lambda: na.ping(b.outer6, count=1, check=False).returncode == 0, timeout=10,
             what="underlay IPv6 ping")
    return Pair(a, b, h)


# ---------------------------------------------------------------------------------------------
# TCP transfer with an integrity check

def tcp_transfer(h: Harness, src_ns: NetNS, src_addr: str, dst_ns: NetNS, dst_addr: str, *,
                 nbytes: int, port: int = 5201, timeout: float = 120) -> str:
    """Sends nbytes of seeded random data from src to dst over TCP; both sides hash; returns the digest."""
    seed = secrets.token_hex(8)
    server = h.spawn(f"tcp-server-{dst_ns.label}-{port}",
                     dst_ns.cmd([sys.executable, str(TOOLS / "tcpxfer.py"), "server", dst_addr, str(port)]))
    server.wait_output(r"^listening", timeout=10)
    client = src_ns.exec([sys.executable, str(TOOLS / "tcpxfer.py"), "client", dst_addr, str(port),
                          "--bind", src_addr, "--bytes", str(nbytes), "--seed", seed,
                          "--timeout", str(timeout)], timeout=timeout + 10, check=False)
    rc = server.wait(timeout=timeout)
    out = _s(client.stdout)
    if client.returncode != 0 or rc != 0:
        raise HarnessError(f"TCP transfer {src_addr} -> {dst_addr} failed (client {client.returncode}, server {rc})\n"
                           f"client: {out}{_s(client.stderr)}\n{server.describe()}")
    m = re.search(r"ok sha256=([0-9a-f]{64}) bytes=(\d+)", out)
    assert m and int(m.group(2)) == nbytes, out
    return m.group(1)


# ---------------------------------------------------------------------------------------------
# Packet capture (tshark, stopped by PID)

class Capture:
    """tshark writing a pcap. Ready only once dumpcap reports "Capture started" (tshark prints
    "Capturing on" before the socket exists); stop() waits until the expected packets reached
    the file, because SIGINT can discard the kernel ring block that still holds the last ones."""

    def __init__(self, h: Harness, ns: NetNS, iface: str, bpf: str, label: str = "capture"):
        self.path = h.artifacts / f"{label}-{secrets.token_hex(2)}.pcap"
        # -F pcap so scapy can read it too; -w writes through dumpcap.
        self.proc = h.spawn(label, ns.cmd(["tshark", "-n", "-q", "-i", iface, "-f", bpf, "-F", "pcap",
                                           "-w", str(self.path)]))
        self.proc.wait_output(r"Capture started", stream="stderr", timeout=20)

    def packets_written(self) -> int:
        """Records in the pcap so far (a partly written last record is not counted)."""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return 0
        n, off = 0, 24
        while off + 16 <= len(data):
            incl = int.from_bytes(data[off + 8:off + 12], "little")
            if off + 16 + incl > len(data):
                break
            n, off = n + 1, off + 16 + incl
        return n

    def stop(self, expect: int = 1, timeout: float = 10.0) -> Path:
        """Stops once at least `expect` packets are in the file (or `timeout` passed: the test's
        own assertions then say what is missing)."""
        deadline = time.monotonic() + timeout
        while self.packets_written() < expect and time.monotonic() < deadline:
            time.sleep(0.05)
        # SIGINT lets tshark tell dumpcap to flush and finish the file.
        self.proc.stop(signal.SIGINT, timeout=10)
        return self.path


def tshark_read(pcap: Path, fields: list[str], *, prefs: list[str] = (), display_filter: str = "",
                decode_as: list[str] = ()) -> list[dict]:
    argv = ["tshark", "-n", "-r", str(pcap), "-T", "fields", "-E", "separator=\t", "-E", "occurrence=a",
            "-E", "aggregator=,"]
    for p in prefs:
        argv += ["-o", p]
    for d in decode_as:
        argv += ["-d", d]
    if display_filter:
        argv += ["-Y", display_filter]
    for f in fields:
        argv += ["-e", f]
    out = run(argv, timeout=60).stdout.decode(errors="replace")
    rows = []
    for line in out.splitlines():
        vals = line.split("\t")
        rows.append(dict(zip(fields, vals + [""] * (len(fields) - len(vals)))))
    return rows
