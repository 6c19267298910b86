#!/usr/bin/env python3
"""IKE under flood (issue 17): a responder flooded with spoofed IKE_SA_INITs while a legitimate
peer sets up IKE SAs, ternd and strongSwan's charon one after the other in one invocation.

For every flood and every daemon (--pair both: ternd, then charon, per flood) it builds fresh
namespaces (tests/integration/flood.py: a flooder F, the responder R, a legitimate initiator L;
spoofed sources from 198.18.0.0/15 routed inside them), starts a responder and an initiator of
the same kind in R and L, warms them up with one SA, and then:

  - floods R for --seconds with well-formed IKE_SA_INIT requests (aes256gcm16-prfsha256-x25519,
    a fresh SPI and nonce each) from tools/ike_flood_sender.c (raw socket, sendmmsg), at each of
    --rates (datagrams/s; "max": as fast as the sender and the kernel go);
  - meanwhile L initiates --setups IKE+CHILD SAs one after another over VICI (blocking, with
    --setup-timeout), spread over the flood, and records each setup's latency;
  - samples the responder's RSS (10/s) and its list command's wall time (2/s: `tern list-sas` /
    `swanctl --list-sas`), counts its log lines per second, and reads its CPU time
    (/proc/PID/stat), R's kernel UDP counters (/proc/net/snmp: InErrors, RcvbufErrors) and the
    CPU steal (/proc/stat) over the flood;
  - waits --settle seconds after the flood and reads the RSS again ("after").

Floods (--modes):
  spoof     random spoofed sources, to the address with the IKE connection (remote_addrs = %any:
            every datagram is a candidate half-open SA), at each rate of --rates
  lockout   the legitimate peer's own address, --lockout-rate/s for --lockout-seconds (a spoofer
            trying to lock the peer out with the per-address half-open limit)
  noconn    random spoofed sources to R's other address, for which no connection exists,
            at --noconn-rate/s (each one a "no connection" event: the log flood of issue 17)

Daemons as shipped: ternd with its defaults (cookies, per-source limits, log level info;
TERN_BIN_DIR, default .build/release), charon 5.9.8 with its (dos_protection = yes, log level
1), `ikesa_table_size = 1024` as in bench/ike_rate.py; `unique = never` on both responders and
a new IKE SA per initiate (reuse_ikesa = no) on both initiators.

  bench/ike_flood.py                                         # everything, ~13 minutes
  bench/ike_flood.py --pair ternd --rates 10000 --modes spoof --seconds 10 --settle 10
  bench/ike_flood.py --json /tmp/flood.jsonl --markdown /tmp/flood.md
"""
from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Optional

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[0] / "tests" / "integration"))
sys.path.insert(0, str(HERE))

import netns  # noqa: E402
import flood  # noqa: E402
from strongswan import Charon, psk_config  # noqa: E402
from ike_rate import GROUPS, busy_seconds, cpu_times, session, steal_percent, ternd_conf  # noqa: E402

PROPOSALS = GROUPS["x25519"]   # what flood.ike_sa_init_request offers
METRICS_PORT = 9109


# ---- the two kinds of daemon -------------------------------------------------------------------

class Side:
    """A responder in R and an initiator of the same kind in L."""
    kind: str
    resp_pid: int
    init_pid: int
    resp_sock: str
    init_sock: str
    log_path: Path

    def list_seconds(self) -> float:
        raise NotImplementedError

    def vici_list_seconds(self) -> float:
        return flood.vici_list_sas_seconds(self.resp_sock)

    def initiate(self, timeout: float) -> None:
        s = session(self.init_sock, timeout=timeout + 10)
        try:
            s.request("initiate", {"child": "bench", "ike": "bench", "timeout": str(int(timeout * 1000))})
        finally:
            s.transport.close()

    def responder_stats(self) -> dict:
        s = session(self.resp_sock, timeout=30)
        try:
            return s.stats()
        finally:
            s.transport.close()

    def ike_total(self, sock: str) -> int:
        s = session(sock, timeout=30)
        try:
            return int(s.stats()["ikesas"]["total"])
        finally:
            s.transport.close()

    def warm_up(self):
        self.initiate(15)
        s = session(self.init_sock, timeout=30)
        try:
            s.request("terminate", {"ike": "bench", "timeout": "15000"})
        finally:
            s.transport.close()
        netns.wait_for(lambda: self.ike_total(self.init_sock) == 0 and self.ike_total(self.resp_sock) == 0,
                       timeout=20, what="warm-up SA gone")

    def extra(self) -> dict:
        return {}


class TerndSide(Side):
    kind = "ternd"

    def __init__(self, h: netns.Harness, t: flood.FloodTopology, args):
        psk = secrets.token_hex(16)
        conf_r = ternd_conf("bench", local_addr=t.resp_addr, remote_addr="%any", local_id="b.example.com",
                            remote_id="a.example.com", local_ts=t.resp_inner + "/32", remote_ts=t.legit_inner + "/32",
                            proposals=PROPOSALS, psk=psk)
        conf_i = ternd_conf("bench", local_addr=t.legit_addr, remote_addr=t.resp_addr, local_id="a.example.com",
                            remote_id="b.example.com", local_ts=t.legit_inner + "/32", remote_ts=t.resp_inner + "/32",
                            proposals=PROPOSALS, psk=psk)
        self.t = t
        self.resp = h.ternd(t.resp, [], extra=["--conf", str(h.write_private("responder.swanctl.conf", conf_r)),
                                               "--metrics", f"127.0.0.1:{METRICS_PORT}"],
                            label="responder", log_level=args.ternd_log_level)
        self.init = h.ternd(t.legit, [], extra=["--conf", str(h.write_private("initiator.swanctl.conf", conf_i)),
                                                "--no-reuse-ikesa"], label="initiator", log_level=args.ternd_log_level)
        self.resp.wait_ready()
        self.init.wait_ready()
        self.resp_pid, self.init_pid = self.resp.pid, self.init.pid
        self.resp_sock, self.init_sock = str(self.resp.sock), str(self.init.sock)
        self.log_path = self.resp.err_path
        self.tern = netns.tern_bin_dir() / "tern"

    def list_seconds(self) -> float:
        return flood.tern_list_sas_seconds(self.tern, Path(self.resp_sock))

    def extra(self) -> dict:
        """Intake drops and IKE message outcomes from the responder's metrics."""
        try:
            text = flood.metrics_text(self.t.resp, f"127.0.0.1:{METRICS_PORT}")
        except netns.HarnessError:   # informational only
            return {}
        out = {}
        for line in text.splitlines():
            for name in ("tern_ike_intake_dropped_total", "tern_ike_messages_total", "tern_ike_half_open_evicted_total"):
                if line.startswith(name):
                    key, _, val = line.rpartition(" ")
                    out[key.replace(name, name.replace("tern_ike_", "").replace("_total", ""))] = int(float(val))
        return out


class CharonSide(Side):
    kind = "charon"

    def __init__(self, h: netns.Harness, t: flood.FloodTopology, args):
        psk = secrets.token_hex(16)
        common = dict(psk=psk, ike_proposals=PROPOSALS, esp_proposals="aes256gcm16", child="bench",
                      conn_extra={"unique": "never", "mobike": False}, child_extra={"close_action": "none"})
        conf_r = psk_config("bench", local_addr=t.resp_addr, remote_addr="%any", local_ts=t.resp_inner + "/32",
                            remote_ts=t.legit_inner + "/32", local_id="b.example.com", remote_id="a.example.com",
                            **common)
        conf_i = psk_config("bench", local_addr=t.legit_addr, remote_addr=t.resp_addr, local_ts=t.legit_inner + "/32",
                            remote_ts=t.resp_inner + "/32", local_id="a.example.com", remote_id="b.example.com",
                            **common)
        tuning = {"ikesa_table_size": 1024, "ikesa_table_segments": 16}
        art = h.artifacts
        self.init = Charon.start(t.legit.name, art / "initiator", conf_i, harness=h, label="initiator",
                                 debug=args.charon_debug, extra_settings={"reuse_ikesa": False, **tuning})
        self.resp = Charon.start(t.resp.name, art / "responder", conf_r, harness=h, label="responder",
                                 debug=args.charon_debug, extra_settings=tuning)
        self.resp_pid, self.init_pid = self.resp.pid, self.init.pid
        self.resp_sock, self.init_sock = str(self.resp.sock), str(self.init.sock)
        self.log_path = self.resp.log_path

    def list_seconds(self) -> float:
        return flood.swanctl_list_sas_seconds(self.resp.uri)


SIDES = {"ternd": TerndSide, "charon": CharonSide}


# ---- one row -----------------------------------------------------------------------------------

@dataclass
class Scenario:
    mode: str          # spoof, lockout, noconn
    rate: int          # datagrams/s, 0: max
    seconds: float

    @property
    def label(self) -> str:
        r = "max" if self.rate == 0 else f"{self.rate}/s"
        return {"spoof": f"spoofed, {r}", "lockout": f"peer's own address, {r}, {self.seconds:g} s",
                "noconn": f"no such connection, {r}"}[self.mode]


@dataclass
class Row:
    daemon: str
    scenario: str
    mode: str
    target_rate: int
    seconds: float
    sent: int = 0
    sent_rate: float = 0
    udp_in: int = 0
    rcvbuf_errors: int = 0
    in_errors: int = 0
    cpu_pct: float = 0
    rss_idle_kb: int = 0
    rss_peak_kb: int = 0
    rss_after_kb: int = 0
    setups: list = field(default_factory=list)        # seconds, None for a failed one
    setup_errors: list = field(default_factory=list)
    list_s: list = field(default_factory=list)
    list_errors: list = field(default_factory=list)
    vici_list_s: list = field(default_factory=list)
    vici_list_errors: list = field(default_factory=list)
    log_per_s: list = field(default_factory=list)
    log_total: int = 0
    half_open_end: Optional[int] = None
    steal_pct: float = 0
    others_pct: float = 0
    extra: dict = field(default_factory=dict)
    error: str = ""

    @property
    def ok(self) -> int:
        return sum(1 for s in self.setups if s is not None)

    @property
    def drop_pct(self) -> float:
        total = self.udp_in + self.in_errors
        return 100.0 * self.in_errors / total if total else 0.0


def run_row(kind: str, sc: Scenario, args) -> Row:
    row = Row(daemon=kind, scenario=sc.label, mode=sc.mode, target_rate=sc.rate, seconds=sc.seconds)
    artifacts = Path(tempfile.mkdtemp(prefix="tt-bench-flood-", dir="/tmp"))
    h = netns.Harness(artifacts)
    try:
        t = flood.make_flood_topology(h)
        side = SIDES[kind](h, t, args)
        side.warm_up()
        time.sleep(1)   # idle: let start-up allocations settle before "before"
        flood.reset_hwm(side.resp_pid)
        row.rss_idle_kb = flood.rss_kb(side.resp_pid)

        rss = flood.Sampler(lambda: flood.rss_kb(side.resp_pid), 0.1)
        lines = flood.LineRate(side.log_path)
        ctl = flood.Sampler(side.list_seconds, 0.5)
        vctl = flood.Sampler(side.vici_list_seconds, 0.5)
        udp0, cpu0, stat0 = flood.udp_counters(t.resp), flood.cpu_seconds(side.resp_pid), cpu_times()
        icpu0, own0 = flood.cpu_seconds(side.init_pid), sum(os.times()[:4])
        t0 = time.monotonic()
        dst = t.resp_flood_addr if sc.mode == "noconn" else t.resp_addr
        src = t.legit_addr if sc.mode == "lockout" else None
        fl = flood.Flood(h, t, rate=sc.rate, seconds=sc.seconds, dst=dst, src=src)

        def setups():
            spacing = max(0.0, (sc.seconds - 2) / max(args.setups, 1))
            for i in range(args.setups):
                due = t0 + 1 + i * spacing
                time.sleep(max(0.0, due - time.monotonic()))
                s = time.monotonic()
                try:
                    side.initiate(args.setup_timeout)
                    row.setups.append(time.monotonic() - s)
                except Exception as e:   # a failed or timed-out setup is a result, not a crash
                    row.setups.append(None)
                    row.setup_errors.append(f"{time.monotonic() - s:.1f}s: {e}"[:200])
        st = threading.Thread(target=setups, daemon=True)
        st.start()
        res = fl.result()
        t1 = time.monotonic()
        udp1, cpu1, stat1 = flood.udp_counters(t.resp), flood.cpu_seconds(side.resp_pid), cpu_times()
        icpu1, own1 = flood.cpu_seconds(side.init_pid), sum(os.times()[:4])
        ctl.stop()
        vctl.stop()
        row.list_s, row.list_errors = ctl.values(), ctl.errors[:5]
        row.vici_list_s, row.vici_list_errors = vctl.values(), vctl.errors[:5]
        row.log_per_s = lines.stop()
        row.log_total = lines.total
        try:
            row.half_open_end = int(side.responder_stats()["ikesas"]["half-open"])
        except Exception:   # informational only
            pass
        st.join(timeout=args.setup_timeout + 30)
        row.sent, row.sent_rate = res["sent"], res["sent"] / max(res["seconds"], 1e-9)
        row.udp_in = udp1["InDatagrams"] - udp0["InDatagrams"]
        row.in_errors = udp1["InErrors"] - udp0["InErrors"]
        row.rcvbuf_errors = udp1["RcvbufErrors"] - udp0["RcvbufErrors"]
        row.cpu_pct = 100.0 * (cpu1 - cpu0) / (t1 - t0)
        row.steal_pct = steal_percent(stat0, stat1)
        # Other processes' share of both cores (busy time minus both daemons, this driver and what
        # it ran and waited for: the sender, the list commands): other engineers' builds.
        mine = (cpu1 - cpu0) + (icpu1 - icpu0) + (own1 - own0)
        row.others_pct = max(0.0, busy_seconds(stat0, stat1) - mine) / ((t1 - t0) * (os.cpu_count() or 1)) * 100
        # "After": --settle seconds after the flood ended; the peak covers the flood and the wait.
        time.sleep(max(0.0, t1 + args.settle - time.monotonic()))
        rss.stop()
        row.rss_after_kb = flood.rss_kb(side.resp_pid)
        row.rss_peak_kb = max(rss.values() + [flood.hwm_kb(side.resp_pid), row.rss_after_kb])
        row.extra = side.extra()
        if not (side.resp.alive() and side.init.alive()):
            row.error = "a daemon exited"
    except Exception as e:   # reported in the table; the next row still runs
        row.error = f"{type(e).__name__}: {e}"[:2000]
    finally:
        try:
            h.close()
        except Exception as e:
            row.error += f" teardown: {e}"[:500]
        if args.keep:
            print(f"  kept {artifacts}", file=sys.stderr)
        else:
            shutil.rmtree(artifacts, ignore_errors=True)
    return row


# ---- goals and output --------------------------------------------------------------------------

def goals(r: Row) -> dict[str, bool]:
    """Issue 17's goals for one row."""
    limit = 2.0 if (r.mode == "spoof" and r.target_rate == 0) else 1.0
    setups = [s for s in r.setups if s is not None]
    per_s = max(r.log_per_s or [0])
    return {
        "setups all ok": bool(r.setups) and r.ok == len(r.setups),
        f"max <= {limit:g} s": bool(setups) and r.ok == len(r.setups) and max(setups) <= limit,
        "RSS peak <= idle+32MB": r.rss_peak_kb - r.rss_idle_kb <= 32 * 1024,
        "RSS back to idle (+4MB)": r.rss_after_kb - r.rss_idle_kb <= 4 * 1024,
        "list <= 100 ms": bool(r.list_s) and not r.list_errors and max(r.list_s) <= 0.1,
        "log bounded (<= 20 lines/s)": per_s <= 20,
    }


def ms(x: Optional[float]) -> str:
    return "-" if x is None else (f"{x * 1000:.0f}" if x < 10 else f"{x:.1f} s")


def table(rows: list[Row]) -> str:
    head = ["flood", "daemon", "sent/s", "kernel drops", "CPU %", "RSS MB idle / peak / after",
            "setups ok", "setup median / max ms", "list CLI median / max ms", "list VICI median / max ms", "log lines max/s (total)",
            "half-open at end", "steal %", "others %"]
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        if r.error and not r.setups:
            out.append(f"| {r.scenario} | {r.daemon} | FAILED: {r.error.splitlines()[0][:120]} |" + " |" * (len(head) - 3))
            continue
        ok = [s for s in r.setups if s is not None]
        med = statistics.median(ok) if ok else None
        mx = max(ok) if ok else None
        if r.ok < len(r.setups):
            mx_s = f"{ms(mx)} (+{len(r.setups) - r.ok} failed)"
        else:
            mx_s = ms(mx)
        def lat(vals, errs):
            if not vals:
                return "-" + (f" ({len(errs)} failed)" if errs else "")
            return f"{ms(statistics.median(vals))} / {ms(max(vals))}" + (f" ({len(errs)} failed)" if errs else "")
        drops = f"{r.in_errors} ({r.drop_pct:.1f} %)"
        out.append("| " + " | ".join([
            r.scenario, r.daemon, f"{r.sent_rate:,.0f}", drops, f"{r.cpu_pct:.0f}",
            f"{r.rss_idle_kb / 1024:.1f} / {r.rss_peak_kb / 1024:.1f} / {r.rss_after_kb / 1024:.1f}",
            f"{r.ok}/{len(r.setups)}", f"{ms(med)} / {mx_s}", lat(r.list_s, r.list_errors), lat(r.vici_list_s, r.vici_list_errors),
            f"{max(r.log_per_s or [0])} ({r.log_total})",
            "-" if r.half_open_end is None else str(r.half_open_end), f"{r.steal_pct:.0f}", f"{r.others_pct:.0f}"]) + " |")
    return "\n".join(out)


def goal_table(rows: list[Row]) -> str:
    lines = []
    for r in rows:
        if r.daemon != "ternd":
            continue
        g = goals(r)
        missed = [k for k, v in g.items() if not v]
        lines.append(f"- ternd, {r.scenario}: " + ("all goals met" if not missed else "MISSED " + ", ".join(missed)))
    return "\n".join(lines)


def parse_rates(s: str) -> list[int]:
    out = []
    for x in s.split(","):
        x = x.strip().lower()
        out.append(0 if x == "max" else int(x))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pair", choices=["both", "ternd", "charon"], default="both",
                    help="responder (and initiator) kind; both: ternd then charon for every flood [both]")
    ap.add_argument("--rates", default="10000,50000,max", help="spoofed-flood rates, datagrams/s or max [10000,50000,max]")
    ap.add_argument("--seconds", type=float, default=20, help="duration of each spoofed flood [20]")
    ap.add_argument("--modes", default="spoof,lockout,noconn", help="floods to run, in order [spoof,lockout,noconn]")
    ap.add_argument("--lockout-rate", type=int, default=20, help="datagrams/s spoofed with the peer's address [20]")
    ap.add_argument("--lockout-seconds", type=float, default=60, help="duration of the lockout flood [60]")
    ap.add_argument("--noconn-rate", type=int, default=10000, help="datagrams/s for a connection that does not exist [10000]")
    ap.add_argument("--setups", type=int, default=20, help="legitimate IKE SA setups per flood, one after another [20]")
    ap.add_argument("--setup-timeout", type=float, default=20, help="a setup not done after this many seconds failed [20]")
    ap.add_argument("--settle", type=float, default=40, help="seconds after the flood before the 'after' RSS [40]")
    ap.add_argument("--ternd-log-level", default="info", help="ternd --log-level (its default: info) [info]")
    ap.add_argument("--charon-debug", default="default 1", help="charon log levels (its default: 1) [default 1]")
    ap.add_argument("--keep", action="store_true", help="keep each row's directory (logs) in /tmp")
    ap.add_argument("--json", help="append the rows as JSON lines to this file")
    ap.add_argument("--markdown", help="also write the tables to this file")
    args = ap.parse_args()
    os.environ.setdefault("TERN_BIN_DIR", str(HERE.parent / ".build" / "release"))
    if os.geteuid() != 0:
        ap.error("needs root (network namespaces, raw sockets)")
    flood.sender_binary()

    scenarios: list[Scenario] = []
    for mode in [m.strip() for m in args.modes.split(",") if m.strip()]:
        if mode == "spoof":
            scenarios += [Scenario("spoof", r, args.seconds) for r in parse_rates(args.rates)]
        elif mode == "lockout":
            scenarios.append(Scenario("lockout", args.lockout_rate, args.lockout_seconds))
        elif mode == "noconn":
            scenarios.append(Scenario("noconn", args.noconn_rate, args.seconds))
        else:
            ap.error(f"unknown mode {mode}")
    kinds = ["ternd", "charon"] if args.pair == "both" else [args.pair]

    rows: list[Row] = []
    for sc in scenarios:
        for k in kinds:
            print(f"# {sc.label}: {k} ...", file=sys.stderr, flush=True)
            r = run_row(k, sc, args)
            rows.append(r)
            if r.error:
                print(f"  {k}: {r.error}", file=sys.stderr)
            for e in r.setup_errors[:3] + r.list_errors[:3]:
                print(f"  {k}: {e}", file=sys.stderr)
            if args.json:
                with open(args.json, "a") as f:
                    f.write(json.dumps(dict(asdict(r), drop_pct=r.drop_pct, goals=goals(r))) + "\n")
    text = table(rows) + "\n\nIssue 17's goals (ternd):\n" + goal_table(rows)
    print(text)
    if args.markdown:
        Path(args.markdown).write_text(text + "\n")
    return 0 if all(not r.error for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
