"""racoon's keying with IKEv2 (issue 16): `ternd --setkey POLICIES --psk-file psk.txt` negotiates
an SA for every outbound require policy when a packet needs one, with the peer's psk.txt
secret, and the CHILD SA carries exactly the policy's selectors. Against ternd with the
mirrored files, and against strongSwan's charon with the equivalent swanctl connection."""
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
