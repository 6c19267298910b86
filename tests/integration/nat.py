"""Three hosts with a NAT: left --- router (masquerade) --- right. IPv4 only.

    left    veth0 192.0.2.2/24, default via 192.0.2.1        inner 203.0.113.1/32 on lo
    router  in0   192.0.2.1/24
            out0  198.51.100.1/24 (+ 198.51.100.3/24 for remap(address=...))
    right   veth0 198.51.100.2/24 (no route to 192.0.2.0/24)  inner 203.0.113.129/32 on lo

The router rewrites the source of everything left sends out of out0 (nftables `masquerade` with
a source-port range, so a mapped port never equals the original one and a test can tell NAT'd
traffic apart). Right cannot reach left except through a mapping left created. remap() moves the
mapping (new port range and/or source address) and flushes conntrack, so left's next packet
appears to come from a new address/port: a NAT rebinding, as after a NAT reboot or timeout.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional

from netns import Harness, HarnessError, NetNS, run, wait_for

PORT_RANGES = ((40000, 40999), (41000, 41999), (42000, 42999))


@dataclass
class NatHost:
    ns: NetNS
    outer: str    # the address on veth0
    inner: str    # the traffic-selector address on lo
    inner_net: str


@dataclass
class Mapping:
    proto: str
    src: str
    sport: int
    dst: str
    dport: int
    public_addr: str   # the source left appears to have on the outside
    public_port: int


class NatTopology:
    ROUTER_INSIDE = "192.0.2.1"
    PUBLIC_ADDRS = ("198.51.100.1", "198.51.100.3")

    def __init__(self, h: Harness):
        self.harness = h
        self.router = h.netns("nat")
        ln, rn = h.netns("left"), h.netns("right")
        h.veth(ln, self.router, name_a="veth0", name_b="in0")
        h.veth(self.router, rn, name_a="out0", name_b="veth0")
        self.left = NatHost(ln, "192.0.2.2", "203.0.113.1", "203.0.113.1/32")
        self.right = NatHost(rn, "198.51.100.2", "203.0.113.129", "203.0.113.129/32")
        ln.add_addr("veth0", self.left.outer + "/24")
        ln.ip("route", "add", "default", "via", self.ROUTER_INSIDE)
        rn.add_addr("veth0", self.right.outer + "/24")
        self.router.add_addr("in0", self.ROUTER_INSIDE + "/24")
        for a in self.PUBLIC_ADDRS:
            self.router.add_addr("out0", a + "/24")
        for host in (self.left, self.right):
            host.ns.add_addr("lo", host.inner + "/32")
        self.router.exec(["sysctl", "-qw", "net.ipv4.ip_forward=1"])
        self.public_addr = self.PUBLIC_ADDRS[0]
        self.ports = PORT_RANGES[0]
        self._install_rule()
        # Left reaches right through the NAT; right cannot reach left (no route, no mapping).
        wait_for(lambda: ln.ping(self.right.outer, count=1, check=False).returncode == 0, timeout=10,
                 what="left -> right ping through the NAT")
        if rn.ping(self.left.outer, count=1, check=False, timeout=5).returncode == 0:
            raise HarnessError("right reaches left directly: the NAT topology leaks")

    def _install_rule(self):
        lo, hi = self.ports
        # snat (not masquerade) so remap() can pick one of the router's two outer addresses.
        rules = (f"flush ruleset\n"
                 f"table ip tt_nat {{\n"
                 f"  chain post {{\n"
                 f"    type nat hook postrouting priority srcnat; policy accept;\n"
                 f"    oifname \"out0\" meta l4proto {{ tcp, udp }} snat to {self.public_addr}:{lo}-{hi}\n"
                 f"    oifname \"out0\" snat to {self.public_addr}\n"
                 f"  }}\n"
                 f"}}\n")
        self.router.exec(["nft", "-f", "-"], input=rules.encode())

    def flush_conntrack(self):
        self.router.exec(["conntrack", "-F"], check=False)   # exits 1 and says so when already empty
        left = self.router.exec(["conntrack", "-L"], check=False).stdout.decode()
        if re.search(r"\bsrc=", left):
            raise HarnessError(f"conntrack not empty after flush:\n{left}")

    def mappings(self, proto: str = "udp") -> list[Mapping]:
        """The router's current conntrack entries for left's traffic (after NAT)."""
        out = self.router.exec(["conntrack", "-L", "-p", proto], check=False).stdout.decode()
        maps = []
        for line in out.splitlines():
            kv = re.findall(r"(\w+)=(\S+)", line)
            srcs = [v for k, v in kv if k == "src"]
            dsts = [v for k, v in kv if k == "dst"]
            sports = [v for k, v in kv if k == "sport"]
            dports = [v for k, v in kv if k == "dport"]
            if len(srcs) < 2 or len(dports) < 2:
                continue
            # Original direction src/sport; reply direction dst/dport = the public side.
            maps.append(Mapping(proto, srcs[0], int(sports[0]), dsts[0], int(dports[0]), dsts[1], int(dports[1])))
        return [m for m in maps if m.src == self.left.outer]

    def public_endpoint(self, sport: int, proto: str = "udp") -> Optional[tuple[str, int]]:
        """(address, port) that left's source port `sport` is mapped to now, or None."""
        for m in self.mappings(proto):
            if m.sport == sport:
                return m.public_addr, m.public_port
        return None

    def remap(self, *, ports: Optional[tuple[int, int]] = None, address: Optional[str] = None):
        """Moves left's future mappings to another source-port range (the next of PORT_RANGES
        unless given, so the port always changes) and optionally another public address, then
        drops every existing mapping."""
        if ports is None:
            i = PORT_RANGES.index(self.ports) if self.ports in PORT_RANGES else -1
            ports = PORT_RANGES[(i + 1) % len(PORT_RANGES)]
        if address is not None and address not in self.PUBLIC_ADDRS:
            raise ValueError(f"{address} is not one of the router's outer addresses {self.PUBLIC_ADDRS}")
        self.ports = ports
        self.public_addr = address or self.public_addr
        self._install_rule()
        self.flush_conntrack()


def make_nat(h: Harness) -> NatTopology:
    for tool in ("nft", "conntrack"):
        if run(["sh", "-c", f"command -v {tool}"], check=False).returncode != 0:
            raise HarnessError(f"{tool} not installed: run scripts/setup.sh")
    return NatTopology(h)
