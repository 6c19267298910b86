"""swanctl.conf texts and helpers for IKE tests: ternd <-> ternd and ternd <-> strongSwan.

Host A (192.0.2.1, inner 203.0.113.1) and host B (192.0.2.2, inner 198.51.100.1) from netns.Pair.
"""
import json
import re
import time
from typing import Optional

from netns import Harness, Pair, Ternd, wait_for

PSK = "a-strong-pre-shared-key-used-only-by-tests-0123456789"


def conn(name: str, *, local_addr: str, remote_addr: str, local_id: str, remote_id: str, local_ts: str,
         remote_ts: str, proposals: str = "aes256gcm16-prfsha256-x25519", esp: str = "aes256gcm16",
         child: str = "net", start_action: str = "none", dpd_action: str = "clear", conn_extra: str = "",
         child_extra: str = "", psk: Optional[str] = PSK, local_auth: str = "psk", remote_auth: str = "psk",
         local_extra: str = "", remote_extra: str = "", sections: str = "") -> str:
    """swanctl.conf of one IKEv2 peer with one CHILD. With psk (the default) a secrets section
    holds the key for both ids; local_extra/remote_extra go into the local/remote sections (e.g.
    `certs = gw.pem`), sections after everything (secrets, authorities)."""
    secrets = f"""secrets {{
    ike-{name} {{
        id-a = {local_id}
        id-b = {remote_id}
        secret = "{psk}"
    }}
}}
""" if psk is not None else ""
    return f"""connections {{
    {name} {{
        version = 2
        local_addrs = {local_addr}
        remote_addrs = {remote_addr}
        proposals = {proposals}
        {conn_extra}
        local {{
            auth = {local_auth}
            id = {local_id}
            {local_extra}
        }}
        remote {{
            auth = {remote_auth}
            id = {remote_id}
            {remote_extra}
        }}
        children {{
            {child} {{
                local_ts = {local_ts}
                remote_ts = {remote_ts}
                esp_proposals = {esp}
                start_action = {start_action}
                dpd_action = {dpd_action}
                {child_extra}
            }}
        }}
    }}
}}
{secrets}{sections}
"""


def pair_confs(pair: Pair, **kw) -> tuple[str, str]:
    a, b = pair.a, pair.b
    kw_b = dict(kw)
    kw_b.pop("start_action", None)
    ca = conn("to-b", local_addr=a.outer4, remote_addr=b.outer4, local_id="a.example.com", remote_id="b.example.com",
              local_ts=a.inner4 + "/32", remote_ts=b.inner4 + "/32", **kw)
    cb = conn("to-a", local_addr=b.outer4, remote_addr=a.outer4, local_id="b.example.com", remote_id="a.example.com",
              local_ts=b.inner4 + "/32", remote_ts=a.inner4 + "/32", **kw_b)
    return ca, cb


def start_ternd(harness: Harness, ns, conf: str, *, extra: list[str] = (), label: Optional[str] = None,
                keylog: bool = False, env: Optional[dict] = None) -> Ternd:
    path = harness.write_private(f"{ns.label}-{label or 'ike'}.swanctl.conf", conf)
    args = ["--conf", str(path), "--retransmit-timeout", "1", "--retransmit-tries", "3"] + list(extra)
    if keylog:
        args += ["--ike-keylog", str(path.with_suffix(".keylog"))]
    t = harness.ternd(ns, [], extra=args, label=label, env=env)
    t.keylog = path.with_suffix(".keylog")
    t.wait_ready()
    return t


def list_sas(t: Ternd) -> list[dict]:
    return json.loads(t.tern("list-sas", "--json").stdout)


def child(t: Ternd, name: str = "net", state: str = "INSTALLED") -> Optional[dict]:
    for sa in list_sas(t):
        for c in sa.get("child-sas", {}).values():
            if c.get("name") == name and c.get("state") == state:
                return c
    return None


def wait_child(t: Ternd, name: str = "net", timeout: float = 15) -> dict:
    return wait_for(lambda: child(t, name), timeout=timeout, what=f"CHILD_SA {name} installed on {t.label}")


def wait_no_sas(t: Ternd, timeout: float = 15):
    wait_for(lambda: not list_sas(t), timeout=timeout, what=f"no SAs on {t.label}")


def tern_keylog(path) -> list[dict]:
    """ternd's --ike-keylog (strongSwan algorithm names) as ike_keylog entries (tshark's names)."""
    from ike_keylog import ENCR_NAMES, INTEG_NAMES, validate
    out = []
    for line in open(path).read().splitlines():
        if not line.strip():
            continue
        e = json.loads(line)
        e["encr"] = ENCR_NAMES[e["encr"]]
        e["integ"] = INTEG_NAMES.get(e["integ"], "NONE [RFC4306]") if e["sk_ai"] else "NONE [RFC4306]"
        out.append(validate(e))
    return out


class Pinger:
    """ping at `rate` packets/s in the background; `loss()` after it ends."""
    def __init__(self, harness: Harness, ns, src: str, dst: str, *, count: int, interval: float = 0.01):
        self.proc = harness.spawn(f"ping-{ns.label}", ns.cmd(["ping", "-n", "-q", "-i", str(interval), "-c", str(count),
                                                               "-W", "2", "-I", src, dst]))

    def result(self, timeout: float = 60) -> tuple[int, int]:
        self.proc.wait(timeout=timeout)
        out = self.proc.stdout()
        m = re.search(r"(\d+) packets transmitted, (\d+) received", out)
        assert m, self.proc.describe()
        return int(m.group(1)), int(m.group(2))


def seed_gateways(harness: Harness):
    """Seed 001's two gateways as written: A 203.0.113.1 and B 198.51.100.1 on one veth, each
    with a route to the other; returns their namespaces once the underlay answers."""
    na, nb = harness.netns("gw-a"), harness.netns("gw-b")
    harness.veth(na, nb)
    na.add_addr("veth0", "203.0.113.1/24")
    nb.add_addr("veth0", "198.51.100.1/24")
    na.ip("route", "add", "198.51.100.0/24", "dev", "veth0")
    nb.ip("route", "add", "203.0.113.0/24", "dev", "veth0")
    wait_for(lambda: na.ping("198.51.100.1", count=1, check=False).returncode == 0, what="underlay")
    return na, nb
