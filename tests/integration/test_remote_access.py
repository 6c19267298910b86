"""Remote access (seed 001's "Type 2" roadwarrior): a gateway leases virtual IPs from a pool over
the configuration payload (RFC 7296 §3.15) and the client installs the address, tunnels from it
and hands the DNS servers to the system. ternd in both roles, against ternd and strongSwan 5.9.8.

Host A (192.0.2.1) is the roadwarrior, host B (192.0.2.2) the gateway with the network
198.51.100.0/24 behind it (198.51.100.1 on its lo)."""
import json
import os
import subprocess

import pytest

import ike_setups as ike
from netns import wait_for
from strongswan import psk_config

pytestmark = pytest.mark.needs_ternd

POOL = "10.99.0.0/29"   # .1 … .6 leasable
DNS = "10.1.0.53"
CLIENT_ID = "alice@example.com"
GATEWAY_ID = "vpn.example.com"
BEHIND = "198.51.100.1"


def gateway_conf(pair, *, pool: str = POOL, remote_id: str = "%any") -> str:
    b = pair.b
    return f"""connections {{
    rw {{
        version = 2
        local_addrs = {b.outer4}
        remote_addrs = %any
        proposals = aes256gcm16-prfsha256-x25519
        pools = rw-pool
        local {{
            auth = psk
            id = {GATEWAY_ID}
        }}
        remote {{
            auth = psk
            id = {remote_id}
        }}
        children {{
            net {{
                local_ts = 198.51.100.0/24
                esp_proposals = aes256gcm16
            }}
        }}
    }}
}}
pools {{
    rw-pool {{
        addrs = {pool}
        dns = {DNS}
    }}
}}
secrets {{
    ike-rw {{
        secret = "{ike.PSK}"
    }}
}}
"""


def client_conf(pair, *, client_id: str = CLIENT_ID, vips: str = "0.0.0.0") -> str:
    a, b = pair.a, pair.b
    return f"""connections {{
    office {{
        version = 2
        local_addrs = {a.outer4}
        remote_addrs = {b.outer4}
        proposals = aes256gcm16-prfsha256-x25519
        vips = {vips}
        local {{
            auth = psk
            id = {client_id}
        }}
        remote {{
            auth = psk
            id = {GATEWAY_ID}
        }}
        children {{
            net {{
                remote_ts = 198.51.100.0/24
                esp_proposals = aes256gcm16
            }}
        }}
    }}
}}
secrets {{
    ike-office {{
        id-a = {client_id}
        id-b = {GATEWAY_ID}
        secret = "{ike.PSK}"
    }}
}}
"""


def dns_hook(harness):
    """A --dns-hook that appends its arguments, one call per line."""
    log = harness.artifacts / "dns-hook.log"
    script = harness.artifacts / "dns-hook.sh"
    script.write_text(f'#!/bin/sh\necho "$@" >> {log}\n')
    os.chmod(script, 0o700)
    return script, log


def hook_calls(log) -> list[str]:
    return log.read_text().splitlines() if log.exists() else []


def tun_addresses(ns, dev: str = "tern0") -> list[str]:
    info = json.loads(ns.ip("-j", "addr", "show", "dev", dev).stdout)
    return [a["local"] for a in info[0].get("addr_info", [])]


def pools(t) -> dict:
    return json.loads(t.tern("list-pools", "--leases", "--json").stdout)


def test_ternd_gateway_leases_to_ternd_client(harness, pair, tern_bins):
    a, b = pair.a, pair.b
    gw = ike.start_ternd(harness, b.ns, gateway_conf(pair), label="gateway")
    hook, hook_log = dns_hook(harness)
    cl = ike.start_ternd(harness, a.ns, client_conf(pair), label="client",
                         extra=["--dns", "hook", "--dns-hook", str(hook)])
    cl.tern("initiate", "--child", "net", timeout=30)
    child = ike.wait_child(cl)
    sa = ike.list_sas(cl)[0]
    assert sa["local-vips"] == ["10.99.0.1"], sa
    assert child["local-ts"] == ["10.99.0.1/32"] and child["remote-ts"] == ["198.51.100.0/24"], child
    gsa = ike.list_sas(gw)[0]
    assert gsa["remote-vips"] == ["10.99.0.1"], gsa
    wait_for(lambda: "10.99.0.1" in tun_addresses(a.ns), what="virtual IP on the client's TUN")
    wait_for(lambda: hook_calls(hook_log) == [f"tern0 {DNS}"], what="DNS hook called with the gateway's server",
             diag=lambda: str(hook_calls(hook_log)))

    # No -I: the route into the tunnel takes the virtual IP as its source.
    a.ns.ping(BEHIND, count=3)
    c = ike.child(gw)
    assert int(c["packets-in"]) >= 3 and int(c["packets-out"]) >= 3, c

    p = pools(gw)["rw-pool"]
    assert (p["base"], p["size"], p["online"], p["offline"]) == ("10.99.0.0", "6", "1", "0"), p
    assert p["leases"]["0"] == {"address": "10.99.0.1", "identity": CLIENT_ID, "status": "online"}, p
    text = gw.tern("list-pools", "--leases").stdout.decode()
    assert "rw-pool" in text and "1 / 0 / 6" in text and f"online   '{CLIENT_ID}'" in text, text
    # strongSwan's own swanctl reads the same over VICI.
    ss = subprocess.run(["swanctl", "--list-pools", "--leases", "--uri", f"unix://{gw.sock}"], capture_output=True,
                        timeout=30, check=True).stdout.decode()
    assert "rw-pool" in ss and "1 / 0 / 6" in ss and "10.99.0.1" in ss and f"'{CLIENT_ID}'" in ss, ss
    ssas = subprocess.run(["swanctl", "--list-sas", "--uri", f"unix://{gw.sock}"], capture_output=True,
                          timeout=30, check=True).stdout.decode()
    assert "10.99.0.1" in ssas, ssas

    # Going: the address leaves the TUN, DNS is restored, the lease goes offline ...
    cl.tern("terminate", "--ike", "office", timeout=30)
    ike.wait_no_sas(cl)
    wait_for(lambda: "10.99.0.1" not in tun_addresses(a.ns), what="virtual IP removed")
    wait_for(lambda: hook_calls(hook_log)[-1:] == ["tern0"], what="DNS hook called to restore",
             diag=lambda: str(hook_calls(hook_log)))
    wait_for(lambda: pools(gw)["rw-pool"]["offline"] == "1", what="lease offline on the gateway")
    # ... and a reconnect of the same identity gets the same address back.
    cl.tern("initiate", "--child", "net", timeout=30)
    ike.wait_child(cl)
    assert ike.list_sas(cl)[0]["local-vips"] == ["10.99.0.1"]
    a.ns.ping(BEHIND, count=2)


def test_exhausted_pool_fails_cleanly_and_keeps_ike(harness, pair, tern_bins):
    """A one-address pool and two identities: the second gets INTERNAL_ADDRESS_FAILURE, no CHILD
    SA and no duplicate address, while its IKE SA stays up (as strongSwan's)."""
    a, b = pair.a, pair.b
    gw = ike.start_ternd(harness, b.ns, gateway_conf(pair, pool="10.99.0.5-10.99.0.5"), label="gateway")
    first = ike.start_ternd(harness, a.ns, client_conf(pair), label="alice", extra=["--dns", "none"])
    first.tern("initiate", "--child", "net", timeout=30)
    ike.wait_child(first)
    assert ike.list_sas(first)[0]["local-vips"] == ["10.99.0.5"]

    # A second client in its own namespace behind the same link.
    c = harness.netns("c")
    harness.veth(c, b.ns, name_a="veth0", name_b="veth1")
    c.add_addr("veth0", "203.0.113.130/25")
    b.ns.add_addr("veth1", "203.0.113.129/25")
    c.ip("route", "add", "default", "via", "203.0.113.129")
    wait_for(lambda: c.ping(b.outer4, count=1, check=False).returncode == 0, what="client C reaches the gateway")
    conf = client_conf(pair, client_id="bob@example.com").replace(f"local_addrs = {a.outer4}", "local_addrs = 203.0.113.130")
    second = ike.start_ternd(harness, c, conf, label="bob", extra=["--dns", "none"])
    r = second.tern("initiate", "--child", "net", timeout=30, check=False)
    assert r.returncode != 0
    err = (r.stdout + r.stderr).decode()
    assert "INTERNAL_ADDRESS_FAILURE" in err, err
    sas = ike.list_sas(second)
    assert len(sas) == 1 and sas[0]["state"] == "ESTABLISHED" and not sas[0].get("child-sas"), sas
    assert "local-vips" not in sas[0]
    assert "pool 'rw-pool'" in gw.stdout() + gw.stderr()
    p = pools(gw)["rw-pool"]
    assert (p["online"], p["size"]) == ("1", "1"), p


def test_strongswan_client_gets_address_from_ternd(harness, pair, start_charon, tern_bins):
    a, b = pair.a, pair.b
    gw = ike.start_ternd(harness, b.ns, gateway_conf(pair), label="gateway")
    conf = psk_config("office", local_addr=a.outer4, remote_addr=b.outer4, local_ts="dynamic",
                      remote_ts="198.51.100.0/24", psk=ike.PSK, local_id=CLIENT_ID, remote_id=GATEWAY_ID,
                      conn_extra={"vips": "0.0.0.0"})
    ch = start_charon(a.ns, conf, extra_settings={"install_virtual_ip": True})
    ch.initiate(child="net")
    c = ch.wait_for_child("net")
    assert c["local-ts"] == ["10.99.0.1/32"], c
    csa = ch.wait_for_ike("office")
    assert csa["local-vips"] == ["10.99.0.1"], csa
    assert ike.list_sas(gw)[0]["remote-vips"] == ["10.99.0.1"]
    # charon-libipsec routes 198.51.100.0/24 via ipsec0 with the virtual IP as source (table 220).
    a.ns.ping(BEHIND, count=3)
    assert "installing new virtual IP 10.99.0.1" in ch.log()
    assert pools(gw)["rw-pool"]["online"] == "1"


def test_ternd_client_gets_address_from_strongswan(harness, pair, start_charon, tern_bins):
    a, b = pair.a, pair.b
    conf = psk_config("rw", local_addr=b.outer4, remote_addr="%any", local_ts=BEHIND + "/32",
                      remote_ts="dynamic", psk=ike.PSK, local_id=GATEWAY_ID, remote_id=CLIENT_ID,
                      conn_extra={"pools": "rw-pool"})
    conf += f"pools {{\n    rw-pool {{\n        addrs = 10.99.0.16/28\n        dns = {DNS}\n    }}\n}}\n"
    ch = start_charon(b.ns, conf)
    hook, hook_log = dns_hook(harness)
    cl = ike.start_ternd(harness, a.ns, client_conf(pair), label="client",
                         extra=["--dns", "hook", "--dns-hook", str(hook)])
    cl.tern("initiate", "--child", "net", timeout=30)
    child = ike.wait_child(cl)
    assert child["local-ts"] == ["10.99.0.17/32"] and child["remote-ts"] == [BEHIND + "/32"], child
    wait_for(lambda: "10.99.0.17" in tun_addresses(a.ns), what="virtual IP on the client's TUN")
    wait_for(lambda: hook_calls(hook_log) == [f"tern0 {DNS}"], what="DNS hook", diag=lambda: str(hook_calls(hook_log)))
    a.ns.ping(BEHIND, count=3)
    leases = ch.swanctl("--list-pools", "--leases")
    assert "10.99.0.17" in leases and CLIENT_ID in leases, leases


def test_dual_stack_virtual_ips(harness, pair, tern_bins):
    """vips = 0.0.0.0, :: with an IPv4 and an IPv6 pool: one address of each, both tunnelled."""
    a, b = pair.a, pair.b
    conf = gateway_conf(pair).replace("pools = rw-pool", "pools = rw-pool, rw-pool6") \
        .replace("local_ts = 198.51.100.0/24", f"local_ts = 198.51.100.0/24, {b.net6}") \
        .replace("pools {\n", "pools {\n    rw-pool6 {\n        addrs = 2001:db8:99::/120\n    }\n")
    gw = ike.start_ternd(harness, b.ns, conf, label="gateway")
    cconf = client_conf(pair, vips="0.0.0.0, ::").replace("remote_ts = 198.51.100.0/24", f"remote_ts = 198.51.100.0/24, {b.net6}")
    cl = ike.start_ternd(harness, a.ns, cconf, label="client", extra=["--dns", "none"])
    cl.tern("initiate", "--child", "net", timeout=30)
    child = ike.wait_child(cl)
    assert sorted(ike.list_sas(cl)[0]["local-vips"]) == ["10.99.0.1", "2001:db8:99::1"]
    assert sorted(child["local-ts"]) == ["10.99.0.1/32", "2001:db8:99::1/128"], child
    wait_for(lambda: "2001:db8:99::1" in tun_addresses(a.ns), what="IPv6 virtual IP on the TUN")
    a.ns.ping(BEHIND, count=2)
    a.ns.ping(b.inner6, count=2)
    assert pools(gw)["rw-pool6"]["online"] == "1"
