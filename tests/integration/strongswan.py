"""strongSwan 5.9.8 `charon` (kernel-libipsec data plane) as a peer inside a test namespace.

    ch = Charon.start(ns, workdir, swanctl_conf, harness=h)   # ns: a NetNS or a namespace name
    ch.initiate(child="net")
    ch.wait_for_child("net")
    ch.child_counters("net")   # {"bytes_in": .., "packets_in": .., "bytes_out": .., "packets_out": ..}
    ch.stop()

Each charon gets its own directory (strongswan.conf, swanctl.conf and its x509/private/...
folders, charon.log, a private /run) and its own VICI socket. It runs in a private mount
namespace whose /run is that directory's run/, because charon hard-codes /var/run/charon.pid.
The namespace dies with the process, so no mount outlives it. Only the PID started here is
ever signalled.

`psk_config()` writes the swanctl.conf of a PSK peer, so a test needs only addresses and names;
the other side can be anything (another Charon, ternd, scapy) in another namespace.

Pitfalls found while building this (5.9.8, Debian 12, kernel without XFRM crypto):
- kernel-libipsec must come before kernel-netlink in `load` (else "unable to add SAD entry",
  while ipsec0 is still created); kernel-netlink is still needed for the routes in table 220.
- kernel-libipsec forces ESP-in-UDP by sending a wrong NAT-D source hash: without any NAT both
  sides' list-sas show `nat-remote` (and `nat-any`), never `nat-fake`; IKE moves to 4500 after
  IKE_SA_INIT. Only a real NAT in front of a host gives that host `nat-local`.
- The local traffic selector must be a local address (put it on `lo`), or installing the
  route, and with it the CHILD SA, fails.
- `swanctl --file X` takes its x509/private/... folders from X's directory (not SWANCTL_DIR).
- The VICI socket path must stay under 108 bytes: long pytest tmp paths do not fit, so the
  socket goes to a short /tmp directory when needed.
- vici's `initiate`/`terminate` with the default timeout (0) block until done; `timeout: -1`
  returns at once. The Python client's streamed commands (initiate, terminate, list-sas)
  register and unregister an event per call: three round trips; `Session.request("initiate")`
  without the event is one (used by bench/ike_rate.py).
- With `ike 4` charon logs "Sk_ei secret => N bytes @ 0x...", followed by hex dump lines; the
  filelog prefixes every line with `<conn|uniqueid>` when `ike_name = yes`, which is how
  ike_keylog.py ties keys to the SPIs from list-sas.
- A responder moves an IKE SA to a peer's new NAT mapping on the next authenticated request only
  without MOBIKE (`mobike = no`); with MOBIKE negotiated it ignores the new source and keeps
  answering the request there but sending everything else to the old mapping.
- Behind masquerade, left's ports 500 and 4500 map to two different public ports.
- `charon.ikesa_table_size` defaults to 1 (one hash bucket): thousands of IKE SAs then cost
  a linear search per message; bench/ike_rate.py raises it.
- Thousands of SAs: CPU per SA grows with the count (libipsec's userspace tables dominate a
  perf profile at 8000), and 10 000 initiated at once mostly time out in retransmissions
  (IKE_SA_INIT queues too long): initiate in a window (bench/ike_rate.py --window).
- charon at `ike 4` logs key material and packet dumps: fine for these throw-away test keys only.
"""
from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Callable, Optional, Union

import vici
from vici.exception import CommandException

from netns import HarnessError, NetNS, run, wait_for

CHARON = Path("/usr/lib/ipsec/charon")

# kernel-libipsec before kernel-netlink (see the pitfalls above); aesni first like Debian's own list.
DEFAULT_PLUGINS = ("random nonce aesni openssl aes sha1 sha2 hmac gcm chapoly curve25519 gmp kdf pem pkcs1 "
                   "pkcs8 x509 pubkey revocation constraints counters kernel-libipsec kernel-netlink "
                   "socket-default vici")

# charon.* settings written unless extra_settings overrides them (keys relative to `charon`).
DEFAULT_SETTINGS: dict[str, object] = {
    "install_routes": True,
    "install_virtual_ip": False,
    "retransmit_timeout": 4.0,
    "retransmit_base": 1.8,
    "retransmit_tries": 5,
    "dos_protection": True,
}

SWANCTL_DIRS = ("x509", "x509ca", "x509ocsp", "x509aa", "x509ac", "x509crl", "pubkey", "private", "rsa",
                "ecdsa", "bliss", "pkcs8", "pkcs12", "conf.d")


def _nsname(ns: Union[NetNS, str]) -> str:
    return ns.name if isinstance(ns, NetNS) else str(ns)


def _conf_value(v: object) -> str:
    if isinstance(v, bool):
        return "yes" if v else "no"
    return str(v)


def render_settings(flat: dict[str, object]) -> str:
    """{"charon.plugins.vici.socket": "unix://x"} -> nested strongswan.conf text."""
    tree: dict = {}
    for key, value in flat.items():
        node = tree
        parts = key.split(".")
        for p in parts[:-1]:
            node = node.setdefault(p, {})
            if not isinstance(node, dict):
                raise ValueError(f"setting {key}: {p} is both a value and a section")
        node[parts[-1]] = value

    def emit(node: dict, depth: int) -> list[str]:
        pad = "    " * depth
        lines = []
        for k, v in node.items():
            if isinstance(v, dict):
                lines += [f"{pad}{k} {{"] + emit(v, depth + 1) + [f"{pad}}}"]
            else:
                lines.append(f"{pad}{k} = {_conf_value(v)}")
        return lines
    return "\n".join(emit(tree, 0)) + "\n"


def parse_debug(debug: str) -> dict[str, int]:
    """"ike 2, knl 1" -> {"ike": 2, "knl": 1}."""
    levels = {}
    for item in debug.split(","):
        item = item.strip()
        if not item:
            continue
        m = re.fullmatch(r"([a-z]{3}|default)\s+(-?\d)", item)
        if not m:
            raise ValueError(f"debug item {item!r}: expected 'subsystem level', e.g. 'ike 2'")
        levels[m.group(1)] = int(m.group(2))
    return levels


def _decode(v):
    """VICI answers carry bytes; tests want str (dicts and lists recursively)."""
    if isinstance(v, bytes):
        return v.decode(errors="replace")
    if isinstance(v, dict):
        return {k: _decode(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_decode(x) for x in v]
    return v


def psk_config(conn: str, *, local_addr: str, remote_addr: str, local_ts: str, remote_ts: str, psk: str,
               child: str = "net", local_id: Optional[str] = None, remote_id: Optional[str] = None,
               ike_proposals: str = "aes256gcm16-prfsha256-x25519", esp_proposals: str = "aes256gcm16",
               start_action: str = "none", conn_extra: dict[str, object] = None,
               child_extra: dict[str, object] = None) -> str:
    """swanctl.conf for one IKEv2 PSK peer with one tunnel-mode CHILD (ids default to the addresses)."""
    local_id = local_id or local_addr
    remote_id = remote_id or remote_addr
    conn_opts = {"version": 2, "local_addrs": local_addr, "remote_addrs": remote_addr,
                 "proposals": ike_proposals, "rekey_time": 0, "dpd_delay": 0}
    conn_opts.update(conn_extra or {})
    child_opts = {"local_ts": local_ts, "remote_ts": remote_ts, "esp_proposals": esp_proposals,
                  "mode": "tunnel", "start_action": start_action, "rekey_time": 0}
    child_opts.update(child_extra or {})
    flat = {f"connections.{conn}.{k}": v for k, v in conn_opts.items()}
    flat.update({f"connections.{conn}.local.auth": "psk", f"connections.{conn}.local.id": local_id,
                 f"connections.{conn}.remote.auth": "psk", f"connections.{conn}.remote.id": remote_id})
    flat.update({f"connections.{conn}.children.{child}.{k}": v for k, v in child_opts.items()})
    flat.update({f"secrets.ike-{conn}.secret": f'"{psk}"', f"secrets.ike-{conn}.id-local": local_id,
                 f"secrets.ike-{conn}.id-remote": remote_id})
    return render_settings(flat)


class Charon:
    """One charon process in one namespace. Use Charon.start(); stop() (or the harness) ends it."""

    def __init__(self, ns: Union[NetNS, str], workdir: Path, *, label: str):
        self.ns_name = _nsname(ns)
        self.workdir = Path(workdir).resolve()
        self.label = label
        self.conf_path = self.workdir / "strongswan.conf"
        self.swanctl_path = self.workdir / "swanctl.conf"
        self.log_path = self.workdir / "charon.log"
        self.out_path = self.workdir / "charon.out"
        self._sockdir: Optional[Path] = None
        sock = self.workdir / "charon.vici"
        if len(str(sock)) > 100:
            self._sockdir = Path(tempfile.mkdtemp(prefix="tt-ss-", dir="/tmp"))
            sock = self._sockdir / "charon.vici"
        self.sock = sock
        self.uri = f"unix://{self.sock}"
        self.popen: Optional[subprocess.Popen] = None
        self.pid: Optional[int] = None
        self._out = None

    # ---- lifecycle ---------------------------------------------------------------------------

    @classmethod
    def start(cls, ns: Union[NetNS, str], workdir: Union[Path, str], swanctl_conf: Optional[str], *,
              debug: str = "ike 2, knl 1, cfg 1, net 1", extra_settings: Optional[dict] = None,
              plugins: str = DEFAULT_PLUGINS, harness=None, label: Optional[str] = None,
              timeout: float = 20) -> "Charon":
        """Writes the configuration into workdir, starts charon in namespace ns, waits for its VICI
        socket and loads swanctl_conf (skipped if None).

        extra_settings: strongswan.conf settings as dotted keys, relative to `charon` unless they
        start with `charon.`/`libstrongswan.`/`swanctl.`, e.g. {"retransmit_tries": 2,
        "dos_protection": False, "plugins.kernel-libipsec.allow_peer_ts": True}.
        harness: a netns.Harness; the charon is then stopped by harness.close() and its log is
        attached to a failing test's report."""
        label = label or f"charon-{getattr(ns, 'label', _nsname(ns))}"
        self = cls(ns, Path(workdir), label=label)
        self._write_config(swanctl_conf, debug=debug, extra_settings=extra_settings or {}, plugins=plugins)
        if harness is not None:
            harness.procs.append(self)
        self._spawn()
        try:
            self._wait_ready(timeout)
            if swanctl_conf is not None:
                self.load()
        except BaseException:
            self.stop()
            raise
        return self

    def _write_config(self, swanctl_conf: Optional[str], *, debug: str, extra_settings: dict, plugins: str):
        self.workdir.mkdir(parents=True, exist_ok=True)
        (self.workdir / "run").mkdir(exist_ok=True)
        for d in SWANCTL_DIRS:
            (self.workdir / d).mkdir(mode=0o700, exist_ok=True)
        levels = {"default": 1}
        levels.update(parse_debug(debug))
        flat: dict[str, object] = {"charon.load_modular": False, "charon.load": plugins}
        for k, v in DEFAULT_SETTINGS.items():
            flat[f"charon.{k}"] = v
        flat["charon.plugins.vici.socket"] = self.uri
        log = "charon.filelog.test"
        flat.update({f"{log}.path": str(self.log_path), f"{log}.time_format": "%H:%M:%S",
                     f"{log}.ike_name": True, f"{log}.append": False, f"{log}.flush_line": True})
        for subsystem, level in levels.items():
            flat[f"{log}.{subsystem}"] = level
        for k, v in extra_settings.items():
            key = k if k.split(".")[0] in ("charon", "libstrongswan", "swanctl") else f"charon.{k}"
            flat[key] = v
        self.conf_path.write_text(render_settings(flat))
        if swanctl_conf is not None:
            fd = os.open(self.swanctl_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(swanctl_conf)
            os.chmod(self.swanctl_path, 0o600)

    def _spawn(self):
        if not CHARON.exists():
            raise HarnessError(f"{CHARON} missing: install strongswan-charon (scripts/setup.sh)")
        inner = (f"mount --bind {shlex.quote(str(self.workdir / 'run'))} /run && "
                 f"exec env STRONGSWAN_CONF={shlex.quote(str(self.conf_path))} {CHARON}")
        # unshare -m makes mounts private: the bind mount never reaches the host and dies with charon.
        # ip netns exec, unshare, sh and env all exec, so the PID below is charon's own.
        self.argv = ["ip", "netns", "exec", self.ns_name, "unshare", "-m", "--propagation", "private",
                     "sh", "-c", inner]
        self._out = open(self.out_path, "wb")
        self.popen = subprocess.Popen(self.argv, stdout=self._out, stderr=subprocess.STDOUT,
                                      stdin=subprocess.DEVNULL)
        self.pid = self.popen.pid

    def _wait_ready(self, timeout: float):
        def ready():
            if not self.alive():
                raise HarnessError(f"{self.label} exited with {self.popen.returncode} during start-up\n"
                                   + self.describe())
            if not self.sock.exists():
                return False
            s = socket.socket(socket.AF_UNIX)
            try:
                s.connect(str(self.sock))
            finally:
                s.close()
            return True
        try:
            wait_for(ready, timeout=timeout, what=f"{self.label} VICI socket {self.sock}", diag=self.describe)
        except HarnessError:
            raise
        if not self.alive():
            raise HarnessError(f"{self.label} died after start-up\n" + self.describe())

    def load(self) -> str:
        """(Re)loads swanctl.conf from the working directory (connections and secrets)."""
        return self.swanctl("--load-all", "--noprompt", "--file", str(self.swanctl_path))

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def stop(self, timeout: float = 10) -> Optional[int]:
        """SIGTERM to charon's PID (only that one), SIGKILL after timeout."""
        if self.popen is not None and self.alive():
            try:
                os.kill(self.pid, signal.SIGTERM)
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.kill(self.pid, signal.SIGKILL)
                self.popen.wait(timeout=10)
            except ProcessLookupError:
                pass
        if self._out is not None and not self._out.closed:
            self._out.close()
        if self._sockdir is not None:
            shutil.rmtree(self._sockdir, ignore_errors=True)
        return self.popen.returncode if self.popen is not None else None

    def mounts_left(self) -> list[str]:
        """Host mount table lines that mention this charon's directory (should be none)."""
        return [l for l in Path("/proc/self/mountinfo").read_text().splitlines() if str(self.workdir) in l]

    def rss_kb(self) -> int:
        m = re.search(r"^VmRSS:\s+(\d+) kB", Path(f"/proc/{self.pid}/status").read_text(), re.M)
        if not m:
            raise HarnessError(f"{self.label}: no VmRSS for pid {self.pid}")
        return int(m.group(1))

    # ---- logs --------------------------------------------------------------------------------

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, n: int = 40) -> str:
        return "\n".join(self.log().splitlines()[-n:])

    def describe(self, tail: int = 60) -> str:
        state = "running" if self.alive() else f"exited {self.popen.returncode if self.popen else '-'}"
        out = self.out_path.read_text(errors="replace") if self.out_path.exists() else ""
        s = f"--- {self.label} (pid {self.pid}, {state}) in {self.ns_name}, dir {self.workdir}\n"
        if out.strip():
            s += "[stdout/stderr]\n" + "\n".join(out.splitlines()[-tail:]) + "\n"
        s += f"[charon.log, last {tail} lines]\n{self.log_tail(tail)}\n"
        return s

    # ---- control -----------------------------------------------------------------------------

    def swanctl(self, *args: str, check: bool = True, timeout: float = 30) -> str:
        """Runs swanctl against this charon's socket; returns stdout. On failure the error names the
        command and carries swanctl's output and charon's log tail."""
        argv = ["swanctl"] + list(args) + ["--uri", self.uri]
        try:
            p = subprocess.run(argv, capture_output=True, timeout=timeout)
        except subprocess.TimeoutExpired as e:
            raise HarnessError(f"{self.label}: timed out after {timeout}s: {' '.join(argv)}\n"
                               f"{(e.stdout or b'').decode(errors='replace')}\n{self.describe()}")
        out = p.stdout.decode(errors="replace")
        if check and p.returncode != 0:
            raise HarnessError(f"{self.label}: exit {p.returncode}: {' '.join(argv)}\nstdout: {out}\n"
                               f"stderr: {p.stderr.decode(errors='replace')}\n{self.describe()}")
        return out

    def session(self, timeout: Optional[float] = None) -> vici.Session:
        """A new VICI session (one per thread; close with session.transport.close())."""
        s = socket.socket(socket.AF_UNIX)
        if timeout is not None:
            s.settimeout(timeout)
        s.connect(str(self.sock))
        return vici.Session(s)

    def _command(self, what: str, fn: Callable[[vici.Session], object], timeout: float):
        sess = self.session(timeout=timeout + 5)
        try:
            return fn(sess)
        except CommandException as e:
            raise HarnessError(f"{self.label}: {what} failed: {e}\n{self.describe()}") from None
        except OSError as e:
            raise HarnessError(f"{self.label}: {what}: VICI error {e!r}\n{self.describe()}") from None
        finally:
            try:
                sess.transport.close()
            except OSError:
                pass

    def initiate(self, child: Optional[str] = None, ike: Optional[str] = None, timeout: float = 15) -> list[str]:
        """Initiates and waits (up to timeout) for the result; returns charon's control log lines."""
        msg = {"timeout": int(timeout * 1000)}
        if child:
            msg["child"] = child
        if ike:
            msg["ike"] = ike
        return self._command(f"initiate {msg}", lambda s: [_decode(m).get("msg", "") for m in s.initiate(msg)],
                             timeout)

    def terminate(self, ike: Optional[str] = None, child: Optional[str] = None, *, ike_id: Optional[int] = None,
                  timeout: float = 15) -> list[str]:
        msg: dict = {"timeout": int(timeout * 1000)}
        if ike:
            msg["ike"] = ike
        if child:
            msg["child"] = child
        if ike_id is not None:
            msg["ike-id"] = str(ike_id)
        return self._command(f"terminate {msg}", lambda s: [_decode(m).get("msg", "") for m in s.terminate(msg)],
                             timeout)

    def rekey(self, child: Optional[str] = None, ike: Optional[str] = None, timeout: float = 10) -> int:
        """Starts a rekey (asynchronous in charon); returns the number of matching SAs."""
        msg = {}
        if child:
            msg["child"] = child
        if ike:
            msg["ike"] = ike
        r = self._command(f"rekey {msg}", lambda s: _decode(s.rekey(msg)), timeout)
        return int(r.get("matches", 0))

    def list_sas(self, ike: Optional[str] = None, timeout: float = 15) -> list[dict]:
        """IKE SAs as dicts (strings, as VICI reports them) with "name" added and "child-sas" as a
        list of CHILD dicts."""
        msg = {"ike": ike} if ike else {}

        def q(s):
            result = []
            for entry in s.list_sas(msg):
                for name, sa in _decode(entry).items():
                    sa["name"] = name
                    children = sa.get("child-sas") or {}
                    sa["child-sas"] = [dict(c, key=k) for k, c in children.items()]
                    result.append(sa)
            return result
        return self._command("list-sas", q, timeout)

    def stats(self) -> dict:
        return self._command("stats", lambda s: _decode(s.stats()), 10)

    def children(self, name: str, state: Optional[str] = None) -> list[dict]:
        """CHILD SAs named `name` (in any IKE SA), newest first, optionally only in `state`."""
        found = [c for sa in self.list_sas() for c in sa["child-sas"]
                 if c.get("name") == name and (state is None or c.get("state") == state)]
        return sorted(found, key=lambda c: int(c.get("uniqueid", 0)), reverse=True)

    def wait_for_child(self, name: str, state: str = "INSTALLED", timeout: float = 15) -> dict:
        return wait_for(lambda: (self.children(name, state) or [None])[0], timeout=timeout,
                        what=f"{self.label}: CHILD SA {name} {state}",
                        diag=lambda: self.swanctl("--list-sas", check=False) + self.describe())

    def wait_for_ike(self, name: str, state: str = "ESTABLISHED", timeout: float = 15) -> dict:
        def pred():
            sas = [sa for sa in self.list_sas() if sa["name"] == name and sa.get("state") == state]
            return sas[0] if sas else None
        return wait_for(pred, timeout=timeout, what=f"{self.label}: IKE SA {name} {state}",
                        diag=lambda: self.swanctl("--list-sas", check=False) + self.describe())

    def child_counters(self, name: str) -> dict[str, int]:
        """Counters of the newest INSTALLED CHILD SA named `name` (a rekey starts new counters)."""
        kids = self.children(name, "INSTALLED")
        if not kids:
            raise HarnessError(f"{self.label}: no INSTALLED CHILD SA {name}\n" + self.swanctl("--list-sas", check=False))
        c = kids[0]
        return {k.replace("-", "_"): int(c.get(k, 0)) for k in ("bytes-in", "packets-in", "bytes-out", "packets-out")}


def charon_factory(harness) -> Callable[..., Charon]:
    """start(ns, swanctl_conf, **kw) -> Charon, its directory under the harness's artifacts; the
    harness stops it. The `start_charon` fixture in conftest.py returns this."""
    def start(ns: Union[NetNS, str], swanctl_conf: Optional[str], **kw) -> Charon:
        label = kw.pop("label", None) or f"charon-{getattr(ns, 'label', _nsname(ns))}"
        workdir = harness.artifacts / label
        n = 2
        while workdir.exists():
            workdir = harness.artifacts / f"{label}-{n}"
            n += 1
        return Charon.start(ns, workdir, swanctl_conf, harness=harness, label=label, **kw)
    return start
