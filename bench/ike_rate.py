#!/usr/bin/env python3
"""IKE+CHILD SA establishment rate and memory per SA, driven over VICI.

Two ways to get the daemons:
  --pair strongswan   start two charons (kernel-libipsec, PSK) in two fresh namespaces on one veth
                      for each --group, run, tear down.
  --pair ternd        the same with two ternd (TERN_BIN_DIR, default .build/release; initiator with
                      --no-reuse-ikesa, responder with --no-dos-protection, unique = never, both
                      with --publish-interval-ms 5).
  --pair both         ternd then strongSwan for each group, one table.
  --initiator-vici SOCK --initiator-pid PID --responder-vici SOCK --responder-pid PID --conn NAME
                      [--child NAME]   daemons the caller started (e.g. ternd, which speaks VICI with
                      strongSwan's semantics); the connection must create a new IKE SA per initiate
                      (strongSwan: reuse_ikesa = no) and the responder must accept many from one
                      peer (unique = never, no DoS cookies).

For each N (--count, repeatable) the driver initiates N CHILD SAs with `timeout: -1` (the call
returns at once; charon queues the IKE_SA_INIT) from --sessions VICI sessions in threads,
optionally keeping at most --window initiations outstanding, and times until both daemons count
N established IKE SAs with nothing half-open. Counting uses VICI `stats` (ikesas total and
half-open, cheap) or, for daemons without it, `list-sas` (--count-method).

Prints a table: pair, group, N, seconds, SAs/s, RSS before/after of each daemon (MB), KB per SA,
daemon CPU seconds, the CPU steal during the run (from /proc/stat) and the share of both cores
that other processes used meanwhile ("others %": busy time minus the daemons and this driver).
On this shared machine either can halve a figure: compare only rows of one run.

  bench/ike_rate.py --pair both --group x25519 --group modp2048
  bench/ike_rate.py --pair strongswan --group x25519 --count 10000 --window 1000
"""
from __future__ import annotations

import argparse
import json
import os
import secrets
import socket
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Optional

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "integration"))

import vici  # noqa: E402

import netns  # noqa: E402
from strongswan import Charon, psk_config  # noqa: E402

GROUPS = {"x25519": "aes256gcm16-prfsha256-x25519", "modp2048": "aes256gcm16-prfsha256-modp2048",
          "ecp256": "aes256gcm16-prfsha256-ecp256"}
CLK_TCK = 100


# ---- measurements from /proc ---------------------------------------------------------------------

def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


def cpu_seconds(pid: int) -> float:
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK   # utime + stime


def cpu_times() -> list[int]:
    return [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]


def busy_seconds(before: list[int], after: list[int]) -> float:
    d = [a - b for a, b in zip(after, before)]
    return (d[0] + d[1] + d[2] + d[5] + d[6]) / CLK_TCK   # user nice system irq softirq


def steal_percent(before: list[int], after: list[int]) -> float:
    d = [a - b for a, b in zip(after, before)]
    total = sum(d[:8])   # user nice system idle iowait irq softirq steal (guest is inside user)
    return 100.0 * d[7] / total if total > 0 else 0.0


# ---- VICI ----------------------------------------------------------------------------------------

def session(sock: str, timeout: float = 30) -> vici.Session:
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(timeout)
    s.connect(sock)
    return vici.Session(s)


class Counter:
    """Established/half-open IKE SAs of one daemon, via `stats` or `list-sas`."""

    def __init__(self, sock: str, method: str):
        # list-sas over 10 000 SAs can take longer than the default 30 s on this shared machine.
        self.sess = session(sock, timeout=180)
        self.method = method
        if method == "auto":
            try:
                st = self.sess.stats()
                self.method = "stats" if "ikesas" in st else "list-sas"
            except Exception:   # a daemon without `stats`: reconnect, the session may be out of step
                self.sess = session(sock)
                self.method = "list-sas"

    def counts(self) -> tuple[int, int]:
        """(established, half_open)."""
        if self.method == "stats":
            ik = self.sess.stats()["ikesas"]
            total, half = int(ik["total"]), int(ik["half-open"])
            return total - half, half
        est = other = 0
        for entry in self.sess.list_sas({"noblock": "yes"}):
            for sa in entry.values():
                if sa.get("state") == b"ESTABLISHED":
                    est += 1
                else:
                    other += 1
        return est, other

    def installed_children(self) -> int:
        """CHILD SAs INSTALLED, from list-sas (after the timed part: slow with many SAs)."""
        n = 0
        for entry in self.sess.list_sas({"noblock": "yes"}):
            for sa in entry.values():
                n += sum(1 for c in (sa.get("child-sas") or {}).values() if c.get("state") == b"INSTALLED")
        return n

    def close(self):
        try:
            self.sess.transport.close()
        except OSError:
            pass


def initiate_all(sock: str, child: str, conn: Optional[str], n: int, sessions: int, window: int,
                 established: "EstablishedView", errors: list[str]):
    """Sends n initiate requests (timeout -1) from `sessions` threads; with window > 0 a thread waits
    while more than `window` initiations are outstanding."""
    msg = {"child": child, "timeout": "-1"}
    if conn:
        msg["ike"] = conn
    issued = [0]
    lock = threading.Lock()

    def worker(quota: int):
        s = session(sock)
        try:
            for _ in range(quota):
                if window:
                    while True:
                        with lock:
                            outstanding = issued[0] - established.value
                        if outstanding < window:
                            break
                        time.sleep(0.002)
                # Plain request, no control-log registration: one round trip per initiate.
                s.request("initiate", msg)
                with lock:
                    issued[0] += 1
        except Exception as e:   # reported in the result, the run is then marked incomplete
            errors.append(f"initiate: {e!r}")
        finally:
            s.transport.close()

    per = [n // sessions + (1 if i < n % sessions else 0) for i in range(sessions)]
    threads = [threading.Thread(target=worker, args=(q,), daemon=True) for q in per if q]
    for t in threads:
        t.start()
    return threads


class EstablishedView:
    value = 0


@dataclass
class Result:
    pair: str
    group: str
    n: int
    established: int
    seconds: float
    rate: float
    rss_i_before_kb: int
    rss_i_after_kb: int
    rss_r_before_kb: int
    rss_r_after_kb: int
    cpu_i_s: float
    cpu_r_s: float
    steal_pct: float
    others_pct: float
    complete: bool
    children_i: int = 0
    children_r: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def kb_per_sa_r(self) -> float:
        return (self.rss_r_after_kb - self.rss_r_before_kb) / max(self.n, 1)

    @property
    def kb_per_sa_i(self) -> float:
        return (self.rss_i_after_kb - self.rss_i_before_kb) / max(self.n, 1)


def measure(*, pair: str, group: str, n: int, init_sock: str, init_pid: int, resp_sock: str, resp_pid: int,
            child: str, conn: Optional[str], sessions: int, window: int, timeout: float,
            count_method: str, stall: float = 10) -> Result:
    ci, cr = Counter(init_sock, count_method), Counter(resp_sock, count_method)
    base_i, base_r = ci.counts()[0], cr.counts()[0]
    rss_i0, rss_r0 = rss_kb(init_pid), rss_kb(resp_pid)
    cpu_i0, cpu_r0 = cpu_seconds(init_pid), cpu_seconds(resp_pid)
    stat0 = cpu_times()
    own0 = sum(os.times()[:2])
    errors: list[str] = []
    view = EstablishedView()
    t0 = time.monotonic()
    threads = initiate_all(init_sock, child, conn, n, sessions, window, view, errors)
    done = False
    est_i = est_r = 0
    poll = 0.01 if ci.method == "stats" else 0.1
    last, last_change = -1, t0
    stalled = False
    while time.monotonic() - t0 < timeout:
        est_i, half_i = ci.counts()
        est_r, half_r = cr.counts()
        est_i -= base_i
        est_r -= base_r
        view.value = min(est_i, est_r)
        now = time.monotonic()
        if est_i >= n and est_r >= n and half_i == 0 and half_r == 0:
            done = True
            break
        if view.value != last:
            last, last_change = view.value, now
        issuing = any(t.is_alive() for t in threads)
        if errors and not issuing:
            break
        # Everything sent, nothing half-open, no progress: the rest failed (e.g. gave up retransmitting).
        if not issuing and half_i == 0 and half_r == 0 and now - last_change > stall:
            stalled = True
            break
        time.sleep(poll)
    elapsed = time.monotonic() - t0
    stat1 = cpu_times()
    own = sum(os.times()[:2]) - own0
    for t in threads:
        t.join(timeout=5)
    cpu_i, cpu_r = cpu_seconds(init_pid) - cpu_i0, cpu_seconds(resp_pid) - cpu_r0
    # CPU used by everything else on the machine (other builds and tests share these cores).
    others = max(0.0, busy_seconds(stat0, stat1) - cpu_i - cpu_r - own) / (elapsed * (os.cpu_count() or 1)) * 100
    res = Result(pair=pair, group=group, n=n, established=min(est_i, est_r), seconds=elapsed,
                 rate=min(est_i, est_r) / elapsed if elapsed > 0 else 0.0,
                 rss_i_before_kb=rss_i0, rss_i_after_kb=rss_kb(init_pid),
                 rss_r_before_kb=rss_r0, rss_r_after_kb=rss_kb(resp_pid),
                 cpu_i_s=cpu_i, cpu_r_s=cpu_r, steal_pct=steal_percent(stat0, stat1), others_pct=others,
                 complete=done, errors=errors[:5])
    if not done:
        why = f"no progress for {stall}s, nothing half-open" if stalled else f"timed out after {timeout}s"
        res.errors.append(f"{why}: initiator {est_i}, responder {est_r} of {n} established")
    res.children_i, res.children_r = ci.installed_children(), cr.installed_children()
    if done and min(res.children_i, res.children_r) < n + min(base_i, base_r):
        res.complete = False
        res.errors.append(f"only {res.children_i}/{res.children_r} CHILD SAs installed (initiator/responder)")
    ci.close()
    cr.close()
    return res


# ---- strongSwan pair -----------------------------------------------------------------------------

def strongswan_pair_run(group: str, counts: list[int], args) -> list[Result]:
    """Fresh namespaces and charons per count, so every row starts from an idle daemon."""
    results = []
    for n in counts:
        artifacts = Path(tempfile.mkdtemp(prefix="tt-bench-ike-", dir="/tmp"))
        h = netns.Harness(artifacts)
        try:
            p = netns.make_pair(h)
            a, b = p.a, p.b
            psk = secrets.token_hex(16)
            proposals = GROUPS[group]
            common = dict(psk=psk, ike_proposals=proposals, esp_proposals="aes256gcm16", child="bench",
                          conn_extra={"unique": "never", "mobike": False}, child_extra={"close_action": "none"})
            conf_i = psk_config("bench", local_addr=a.outer4, remote_addr=b.outer4, local_ts=a.inner4 + "/32",
                                remote_ts=b.inner4 + "/32", **common)
            conf_r = psk_config("bench", local_addr=b.outer4, remote_addr=a.outer4, local_ts=b.inner4 + "/32",
                                remote_ts=a.inner4 + "/32", **common)
            tuning = {"ikesa_table_size": args.table_size, "ikesa_table_segments": 16} if args.table_size > 1 else {}
            ci = Charon.start(a.ns, artifacts / "initiator", conf_i, harness=h, label="initiator", debug=args.debug,
                              extra_settings={"reuse_ikesa": False, **tuning})
            cr = Charon.start(b.ns, artifacts / "responder", conf_r, harness=h, label="responder", debug=args.debug,
                              extra_settings={"dos_protection": False, **tuning})
            # One SA first: proves the setup and warms up both daemons (plugins, first allocations).
            ci.initiate(child="bench", timeout=15)
            ci.terminate(ike="bench", timeout=15)
            netns.wait_for(lambda: ci.stats()["ikesas"]["total"] == "0" and cr.stats()["ikesas"]["total"] == "0",
                           timeout=15, what="warm-up SA gone")
            r = measure(pair="strongswan", group=group, n=n, init_sock=str(ci.sock), init_pid=ci.pid,
                        resp_sock=str(cr.sock), resp_pid=cr.pid, child="bench", conn="bench",
                        sessions=args.sessions, window=args.window, timeout=args.timeout,
                        count_method=args.count_method)
            if not r.complete:
                r.errors.append("initiator log, last lines:\n" + ci.log_tail(4))
            results.append(r)
        finally:
            h.close()
            if not args.keep:
                import shutil
                shutil.rmtree(artifacts, ignore_errors=True)
    return results


# ---- ternd pair ----------------------------------------------------------------------------------

def ternd_conf(name: str, *, local_addr: str, remote_addr: str, local_id: str, remote_id: str, local_ts: str,
               remote_ts: str, proposals: str, psk: str) -> str:
    return f"""connections {{
    {name} {{
        version = 2
        local_addrs = {local_addr}
        remote_addrs = {remote_addr}
        proposals = {proposals}
        unique = never
        local {{
            auth = psk
            id = {local_id}
        }}
        remote {{
            auth = psk
            id = {remote_id}
        }}
        children {{
            bench {{
                local_ts = {local_ts}
                remote_ts = {remote_ts}
                esp_proposals = aes256gcm16
                start_action = none
                close_action = none
            }}
        }}
    }}
}}
secrets {{
    ike-{name} {{
        id-a = {local_id}
        id-b = {remote_id}
        secret = "{psk}"
    }}
}}
"""


def ternd_pair_run(group: str, counts: list[int], args) -> list[Result]:
    """Two ternd (release build unless TERN_BIN_DIR says otherwise) like the charons above: fresh
    namespaces per count, a new IKE SA per initiate (--no-reuse-ikesa), no DoS cookies."""
    os.environ.setdefault("TERN_BIN_DIR", str(Path(__file__).resolve().parents[1] / ".build" / "release"))
    results = []
    for n in counts:
        artifacts = Path(tempfile.mkdtemp(prefix="tt-bench-ike-", dir="/tmp"))
        h = netns.Harness(artifacts)
        try:
            p = netns.make_pair(h)
            a, b = p.a, p.b
            psk = secrets.token_hex(16)
            common = dict(proposals=GROUPS[group], psk=psk)
            conf_i = ternd_conf("bench", local_addr=a.outer4, remote_addr=b.outer4, local_id="a.example.com",
                                remote_id="b.example.com", local_ts=a.inner4 + "/32", remote_ts=b.inner4 + "/32", **common)
            conf_r = ternd_conf("bench", local_addr=b.outer4, remote_addr=a.outer4, local_id="b.example.com",
                                remote_id="a.example.com", local_ts=b.inner4 + "/32", remote_ts=a.inner4 + "/32", **common)
            daemons = []
            coalesce = ["--publish-interval-ms", str(args.publish_interval_ms)]
            for ns, conf, label, flags in ((a.ns, conf_i, "initiator", ["--no-reuse-ikesa"] + coalesce),
                                           (b.ns, conf_r, "responder", ["--no-dos-protection"] + coalesce)):
                path = h.write_private(f"{label}.swanctl.conf", conf)
                t = h.ternd(ns, [], extra=["--conf", str(path)] + flags, label=label, log_level=args.ternd_log_level)
                t.wait_ready()
                daemons.append(t)
            ti, tr = daemons
            # One SA first, as for strongSwan: proves the setup and warms both daemons up.
            si, sr = session(str(ti.sock)), session(str(tr.sock))
            si.request("initiate", {"child": "bench", "ike": "bench", "timeout": "15000"})
            si.request("terminate", {"ike": "bench", "timeout": "15000"})
            netns.wait_for(lambda: si.stats()["ikesas"]["total"] == b"0" and sr.stats()["ikesas"]["total"] == b"0",
                           timeout=15, what="warm-up SA gone")
            for s_ in (si, sr):
                s_.transport.close()
            r = measure(pair="ternd", group=group, n=n, init_sock=str(ti.sock), init_pid=ti.pid,
                        resp_sock=str(tr.sock), resp_pid=tr.pid, child="bench", conn="bench",
                        sessions=args.sessions, window=args.window, timeout=args.timeout,
                        count_method=args.count_method)
            if not r.complete:
                r.errors.append("initiator log, last lines:\n" + "\n".join(ti.stderr().splitlines()[-4:]))
            results.append(r)
        finally:
            h.close()
            if not args.keep:
                import shutil
                shutil.rmtree(artifacts, ignore_errors=True)
    return results


# ---- output --------------------------------------------------------------------------------------

def table(results: list[Result]) -> str:
    head = ("pair", "group", "N", "s", "SAs/s", "resp RSS MB", "KB/SA resp", "init RSS MB", "KB/SA init",
            "CPU s r/i", "steal %", "others %", "CHILDs r/i total")
    rows = []
    for r in results:
        n = f"{r.n}" if r.complete else f"{r.established}/{r.n}!"
        rows.append((r.pair, r.group, n, f"{r.seconds:.2f}", f"{r.rate:.0f}",
                     f"{r.rss_r_before_kb / 1024:.1f}->{r.rss_r_after_kb / 1024:.1f}", f"{r.kb_per_sa_r:.1f}",
                     f"{r.rss_i_before_kb / 1024:.1f}->{r.rss_i_after_kb / 1024:.1f}", f"{r.kb_per_sa_i:.1f}",
                     f"{r.cpu_r_s:.1f}/{r.cpu_i_s:.1f}", f"{r.steal_pct:.0f}",
                     f"{r.others_pct:.0f}", f"{r.children_r}/{r.children_i}"))
    widths = [max(len(str(x)) for x in col) for col in zip(head, *rows)]
    fmt = "  ".join(f"{{:>{w}}}" for w in widths)
    return "\n".join([fmt.format(*head)] + [fmt.format(*row) for row in rows])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pair", choices=["strongswan", "ternd", "both"],
                    help="start this pair of daemons itself (both: ternd, then strongSwan, per group)")
    ap.add_argument("--group", action="append", choices=sorted(GROUPS),
                    help="key exchange of the IKE proposal (repeatable; default x25519)")
    ap.add_argument("--count", action="append", type=int, help="SAs per run (repeatable; default 1000)")
    ap.add_argument("--sessions", type=int, default=4, help="VICI sessions (threads) initiating [4]")
    ap.add_argument("--window", type=int, default=0,
                    help="at most this many initiations outstanding (0: all at once) [0]")
    ap.add_argument("--timeout", type=float, default=300, help="give up a run after this many seconds [300]")
    ap.add_argument("--count-method", choices=["auto", "stats", "list-sas"], default="auto")
    ap.add_argument("--table-size", type=int, default=1024,
                    help="strongSwan ikesa_table_size (its default is 1: one hash bucket) [1024]")
    ap.add_argument("--debug", default="default 0", help="charon log levels for the pair [default 0]")
    ap.add_argument("--publish-interval-ms", type=float, default=5,
                    help="ternd --publish-interval-ms for the pair (0: publish after every change) [5]")
    ap.add_argument("--ternd-log-level", default="notice",
                    help="ternd --log-level for the pair (notice: one line per SA, like charon's level 0) [notice]")
    ap.add_argument("--keep", action="store_true", help="keep the pair's directories (logs) in /tmp")
    ap.add_argument("--json", help="append the results as JSON lines to this file")
    ext = ap.add_argument_group("daemons started by the caller")
    ext.add_argument("--initiator-vici")
    ext.add_argument("--initiator-pid", type=int)
    ext.add_argument("--responder-vici")
    ext.add_argument("--responder-pid", type=int)
    ext.add_argument("--conn", help="IKE connection name to initiate (optional with --child)")
    ext.add_argument("--child", default="bench", help="CHILD config to initiate [bench]")
    ext.add_argument("--label", default="external", help="pair name in the table [external]")
    args = ap.parse_args()
    groups = args.group or ["x25519"]
    counts = args.count or [1000]

    results: list[Result] = []
    if args.pair:
        for g in groups:
            if args.pair in ("ternd", "both"):
                results += ternd_pair_run(g, counts, args)
            if args.pair in ("strongswan", "both"):
                results += strongswan_pair_run(g, counts, args)
    elif args.initiator_vici and args.responder_vici and args.initiator_pid and args.responder_pid:
        for n in counts:
            results.append(measure(pair=args.label, group=",".join(args.group or ["-"]), n=n, init_sock=args.initiator_vici,
                                   init_pid=args.initiator_pid, resp_sock=args.responder_vici,
                                   resp_pid=args.responder_pid, child=args.child, conn=args.conn,
                                   sessions=args.sessions, window=args.window, timeout=args.timeout,
                                   count_method=args.count_method))
    else:
        ap.error("give --pair, or all of --initiator-vici/-pid and --responder-vici/-pid")

    print(table(results))
    for r in results:
        for e in r.errors:
            print(f"{r.pair} {r.group} N={r.n}: {e}", file=sys.stderr)
    if args.json:
        with open(args.json, "a") as f:
            for r in results:
                f.write(json.dumps(dict(asdict(r), kb_per_sa_r=r.kb_per_sa_r, kb_per_sa_i=r.kb_per_sa_i)) + "\n")
    return 0 if all(r.complete for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
