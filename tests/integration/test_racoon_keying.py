"""racoon's keying with IKEv2 (issue 16): `ternd --setkey POLICIES --psk-file psk.txt` negotiates
an SA for every outbound require policy when a packet needs one, with the peer's psk.txt
secret, and the CHILD SA carries exactly the policy's selectors. Against ternd with the
mirrored files, and against strongSwan's charon with the equivalent swanctl connection."""
import sys

import pytest

import ike_setups as ike
from netns import wait_for
from strongswan import psk_config

pytestmark = pytest.mark.needs_ternd

PSK = "a racoon-style secret, spaces and all"


def policies(here_outer: str, there_outer: str, here_inner: str, there_inner: str) -> str:
    return (f"# as the seeds write them: one out and one in policy per direction\n"
            f"spdadd {here_inner}/32 {there_inner}/32 any -P out ipsec esp/tunnel/{here_outer}-{there_outer}/require;\n"
            f"spdadd {there_inner}/32 {here_inner}/32 any -P in ipsec esp/tunnel/{there_outer}-{here_outer}/require;\n")


def start_racoon_style(harness, site, peer, label: str, psk_mode: int = 0o600):
    pol = harness.write_private(f"{label}.setkey", policies(site.outer4, peer.outer4, site.inner4, peer.inner4), mode=0o644)
    psk = harness.write_private(f"{label}.psk.txt", f"# peer  secret\n{peer.outer4}\t{PSK}\n", mode=psk_mode)
    t = harness.ternd(site.ns, [pol], extra=["--psk-file", str(psk), "--retransmit-timeout", "1"], label=label)
    return t


def the_child(t) -> dict:
    return wait_for(lambda: next((c for sa in ike.list_sas(t) for c in sa.get("child-sas", {}).values()
                                  if c.get("state") == "INSTALLED"), None),
                    timeout=15, what=f"a CHILD SA on {t.label}")


def test_first_packet_negotiates_and_is_delivered_between_two_ternd(harness, pair, tern_bins):
    a, b = pair.a, pair.b
    ta = start_racoon_style(harness, a, b, "ternd-a")
    tb = start_racoon_style(harness, b, a, "ternd-b")
    ta.wait_ready(); tb.wait_ready()
    assert not ike.list_sas(ta), "nothing may be negotiated before traffic needs it"
    # One ping: held while the SA is negotiated, then delivered (racoon's "slight pause").
    a.ns.ping(b.inner4, src=a.inner4, count=1, timeout=20)
    c = the_child(ta)
    assert c["local-ts"] == [f"{a.inner4}/32"] and c["remote-ts"] == [f"{b.inner4}/32"], c
    sa = ike.list_sas(ta)[0]
    assert sa["local-id"] == a.outer4 and sa["remote-id"] == b.outer4, sa
    b.ns.ping(a.inner4, src=b.inner4, count=3)
    assert int(ike.list_sas(ta)[0]["child-sas"][next(iter(ike.list_sas(ta)[0]["child-sas"]))]["packets-out"]) >= 1


def test_psk_file_readable_by_others_is_refused(harness, pair, tern_bins):
    t = start_racoon_style(harness, pair.a, pair.b, "ternd-a", psk_mode=0o644)
    wait_for(lambda: not t.alive(), timeout=20, what="ternd refusing the psk.txt")
    err = t.stderr()
    assert "psk.txt" in err and "chmod 600" in err, err[-2000:]


@pytest.mark.parametrize("tern_initiates", [True, False], ids=["tern-initiator", "charon-initiator"])
def test_racoon_style_ternd_with_charon(harness, pair, start_charon, tern_bins, tern_initiates):
    a, b = pair.a, pair.b
    ta = start_racoon_style(harness, a, b, "ternd-a")
    ta.wait_ready()
    conf_b = psk_config("to-a", local_addr=b.outer4, remote_addr=a.outer4, local_ts=b.inner4 + "/32",
                        remote_ts=a.inner4 + "/32", psk=PSK, ike_proposals="default", esp_proposals="default")
    cb = start_charon(b.ns, conf_b)
    if tern_initiates:
        a.ns.ping(b.inner4, src=a.inner4, count=1, timeout=25)
    else:
        cb.initiate(child="net")
    the_child(ta)
    cb.wait_for_child("net")
    a.ns.ping(b.inner4, src=a.inner4, count=3)
    b.ns.ping(a.inner4, src=b.inner4, count=3)
    sa = ike.list_sas(ta)[0]
    assert sa["initiator"] == ("yes" if tern_initiates else "no"), sa


def test_seed_003s_gateway_policies_keyed_between_two_ternd(harness, pair, tern_bins):
    """Seed 003's policies exactly (the FreeBSD handbook's, addresses moved into the test range):
    ESP tunnels for the gateways' own IP-in-IP (`ipencap`) traffic. An IP-in-IP packet from A to
    B triggers the negotiation; the CHILD SA selects protocol 4 between the two gateways only,
    and the packet arrives at B through it."""
    a, b = pair.a, pair.b
    def seed003(here, there):
        return (f"spdadd {here}/32 {there}/32 ipencap -P out ipsec esp/tunnel/{here}-{there}/require;\n"
                f"spdadd {there}/32 {here}/32 ipencap -P in ipsec esp/tunnel/{there}-{here}/require;\n")
    tern = {}
    for site, peer, label in ((a, b, "ternd-a"), (b, a, "ternd-b")):
        pol = harness.write_private(f"{label}-seed003.setkey", seed003(site.outer4, peer.outer4), mode=0o644)
        psk = harness.write_private(f"{label}.psk.txt", f"{peer.outer4} {PSK}\n")
        tern[label] = harness.ternd(site.ns, [pol], extra=["--psk-file", str(psk), "--retransmit-timeout", "1"], label=label)
    for t in tern.values():
        t.wait_ready()
    # An IP-in-IP packet (protocol 4) from A's address to B's, carrying a small inner IPv4 header.
    send = ("import socket, struct, sys\n"
            "s = socket.socket(socket.AF_INET, socket.SOCK_RAW, 4)\n"
            "inner = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20, 1, 0, 64, 59, 0, socket.inet_aton('10.99.0.1'), socket.inet_aton('10.99.0.2'))\n"
            "for _ in range(int(sys.argv[2])): s.sendto(inner, (sys.argv[1], 0))\n")
    a.ns.exec([sys.executable, "-c", send, b.outer4, "1"])
    c = the_child(tern["ternd-a"])
    assert c["local-ts"] == [f"{a.outer4}/32[4]"] and c["remote-ts"] == [f"{b.outer4}/32[4]"], c
    # The held packet went out once the SA was up; more follow through it.
    a.ns.exec([sys.executable, "-c", send, b.outer4, "3"])
    def arrived():
        kids = [k for sa in ike.list_sas(tern["ternd-b"]) for k in sa.get("child-sas", {}).values()]
        return kids and int(kids[0].get("packets-in", 0)) >= 4 and kids[0]
    wait_for(arrived, timeout=10, what="the IP-in-IP packets arriving at B through the CHILD SA")
