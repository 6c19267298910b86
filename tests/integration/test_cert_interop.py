"""Certificate (public-key) authentication, issue 5: ternd against strongSwan 5.9.8 and itself, with
certificates made by `tern pki` and by strongSwan's `pki`.

Every scenario also runs charon <-> charon: that control group proves the certificates and the
configuration directories are right, and that strongSwan refuses each negative case too.

Each side reads ONE directory laid out as swanctl's (swanctl.conf beside x509/, x509ca/, x509crl/,
private/, rsa/, ecdsa/, pkcs8/): charon through `swanctl --load-all --file DIR/swanctl.conf`, ternd
through `ternd --conf DIR/swanctl.conf` (see cert_setups.py).

Host A 192.0.2.1 (inner 203.0.113.1), host B 192.0.2.2 (inner 198.51.100.1). In the negative cases
A presents the bad certificate and B verifies it; either side initiates.
"""
from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from cert_setups import (FAR_AHEAD, LONG_AGO, PkiStore, SideDir, dn_cn, gw_conf, launch, other_side, tunnel_up)
import ike_setups as ike
from netns import wait_for

pytestmark = pytest.mark.needs_ternd

FIXTURES = Path(__file__).resolve().parents[2] / "Tests/TernConfigTests/Fixtures/swanctl"
KEY_PASSPHRASE = "passphrase-of-a-test-key-only"


@pytest.fixture(scope="session")
def pki_store(tmp_path_factory, tern_bins):
    return PkiStore(tmp_path_factory.mktemp("cert-pki"), tern_bins / "tern")


@pytest.fixture
def strongswan():
    if not os.path.exists("/usr/lib/ipsec/charon") or shutil.which("swanctl") is None or shutil.which("pki") is None:
        pytest.fail("strongSwan (charon, swanctl, pki) not installed: run scripts/setup.sh", pytrace=False)


# Who runs where: A's kind, B's kind and the initiating side.
ROLES = {
    "charon-charon": ("charon", "charon", "a"),
    "ternd-initiator": ("ternd", "charon", "a"),
    "ternd-responder": ("ternd", "charon", "b"),
    "ternd-ternd": ("ternd", "ternd", "a"),
}


def start_pair(harness, pair, side_a: SideDir, side_b: SideDir, kind_a: str, kind_b: str, initiator: str):
    """Starts the responder first, then the initiator; returns (peer A, peer B)."""
    side_a.write()
    side_b.write()
    if initiator == "a":
        b = launch(harness, kind_b, pair.b.ns, side_b, label=f"{kind_b}-b")
        a = launch(harness, kind_a, pair.a.ns, side_a, label=f"{kind_a}-a")
    else:
        a = launch(harness, kind_a, pair.a.ns, side_a, label=f"{kind_a}-a")
        b = launch(harness, kind_b, pair.b.ns, side_b, label=f"{kind_b}-b")
    return a, b


def remote_ids(peer) -> list[str]:
    return [sa.get("remote-id", "") for sa in peer.ike_sas() if sa.get("state") == "ESTABLISHED"]


# ---------------------------------------------------------------------------------------------
# Key types, both tools, both roles


@dataclass(frozen=True)
class Row:
    keytype: str
    tool_a: str       # who made A's CA and certificate ("tern" or "pki"); B's is the other tool
    id_kind: str      # fqdn, dn, email, ip: which of the certificate's names is the IKE identity
    key_folder: str   # where the private keys go: private, rsa, ecdsa, pkcs8, or encrypted (private/ + secret)

    @property
    def tool_b(self) -> str:
        return "pki" if self.tool_a == "tern" else "tern"

    @property
    def id(self) -> str:
        return f"{self.keytype}-a_{self.tool_a}-b_{self.tool_b}-{self.id_kind}-{self.key_folder}"


ROWS = [
    Row("rsa2048", "tern", "fqdn", "private"),
    Row("rsa3072", "pki", "dn", "rsa"),
    Row("ecdsa256", "tern", "email", "encrypted"),
    Row("ecdsa384", "pki", "ip", "ecdsa"),
    Row("ed25519", "tern", "fqdn", "pkcs8"),
]


def row_sides(store: PkiStore, artifacts: Path, row: Row) -> tuple[SideDir, SideDir]:
    root_a, root_b = store.root(row.tool_a, row.keytype), store.root(row.tool_b, row.keytype)
    leaf_a = store.leaf(row.tool_a, root_a, row.keytype, "a")
    leaf_b = store.leaf(row.tool_b, root_b, row.keytype, "b")
    sides = []
    for side, here, there in (("a", leaf_a, leaf_b), ("b", leaf_b, leaf_a)):
        key_name = "gw-key.pem"
        secrets = ""
        if row.key_folder == "encrypted":
            key_src, folder = store.encrypted(here.key, KEY_PASSPHRASE), "private"
            # swanctl matches a `private<suffix>` secret to a key in private/ by its `file` name.
            secrets = f'secrets {{\n    private-gw {{\n        file = {key_name}\n'
            secrets += f'        secret = "{KEY_PASSPHRASE}"\n    }}\n}}'
        else:
            key_src, folder = here.key, row.key_folder
        conf = gw_conf(side, here.identity(row.id_kind), there.identity(row.id_kind), sections=secrets)
        sides.append(SideDir(artifacts / f"conf-{side}", conf).cert((here.cert, "gw-cert.pem"))
                     .ca(root_a.cert, root_b.cert).key((key_src, key_name), folder))
    return sides[0], sides[1]


@pytest.mark.parametrize("roles", list(ROLES))
@pytest.mark.parametrize("row", ROWS, ids=[r.id for r in ROWS])
def test_cert_tunnel(harness, pair, pki_store, strongswan, row, roles):
    """Tunnel up with certificates of each key type, ping both ways; each side saw the other's id."""
    kind_a, kind_b, initiator = ROLES[roles]
    side_a, side_b = row_sides(pki_store, harness.artifacts, row)
    a, b = start_pair(harness, pair, side_a, side_b, kind_a, kind_b, initiator)
    init, resp = (a, b) if initiator == "a" else (b, a)
    tunnel_up(init, resp, pair)
    want_a, want_b = ("gateway-a", "gateway-b") if row.id_kind != "ip" else ("192.0.2.1", "192.0.2.2")
    assert any(want_b in dn_cn(i) for i in remote_ids(a)), remote_ids(a)
    assert any(want_a in dn_cn(i) for i in remote_ids(b)), remote_ids(b)


@pytest.mark.parametrize("roles", list(ROLES))
def test_rsa_pss_signatures(harness, pair, pki_store, strongswan, roles):
    """A signs its AUTH with RSASSA-PSS (`local.auth = rsa/pss-sha256`, RFC 7427; plain `rsa/pss`
    names no hash, and charon 5.9.8 then keeps signing with PKCS#1 v1.5); B verifies it."""
    kind_a, kind_b, initiator = ROLES[roles]
    root = pki_store.root("tern", "rsa2048")
    leaves = {s: pki_store.leaf("tern", root, "rsa2048", s) for s in "ab"}
    sides = {s: (SideDir(harness.artifacts / f"conf-{s}",
                         gw_conf(s, leaves[s].fqdn, leaves[other_side(s)].fqdn,
                                 local_auth="rsa/pss-sha256" if s == "a" else "pubkey"))
                 .cert((leaves[s].cert, "gw-cert.pem")).ca(root.cert).key(leaves[s].key)) for s in "ab"}
    a, b = start_pair(harness, pair, sides["a"], sides["b"], kind_a, kind_b, initiator)
    init, resp = (a, b) if initiator == "a" else (b, a)
    tunnel_up(init, resp, pair)
    if b.kind == "charon":
        assert re.search(r"authentication of 'gateway-a\.example\.com' with RSA_EMSA_PSS\S* successful", b.log()), \
            b.describe()


# ---------------------------------------------------------------------------------------------
# A chain through an intermediate CA that only the presenter has


@pytest.mark.parametrize("roles", list(ROLES))
@pytest.mark.parametrize("tool", ["tern", "pki"])
def test_intermediate_ca_sent_in_cert_payload(harness, pair, pki_store, strongswan, tool, roles):
    """Root (ECDSA P-384) -> intermediate (RSA 2048, one per side) -> gateway (ECDSA P-256), DN ids.
    Each side has only the root in x509ca/ and its own intermediate in x509/, so the peer's
    intermediate can only arrive in a CERT payload."""
    kind_a, kind_b, initiator = ROLES[roles]
    root = pki_store.root(tool, "ecdsa384", "chain-root")
    ims = {s: pki_store.intermediate(tool, root, "rsa2048", f"chain-im-{s}") for s in "ab"}
    leaves = {s: pki_store.leaf(tool, ims[s], "ecdsa256", s, chain=(ims[s],)) for s in "ab"}
    sides = {}
    for s in "ab":
        conf = gw_conf(s, leaves[s].identity("dn"), leaves[other_side(s)].identity("dn"))
        sides[s] = (SideDir(harness.artifacts / f"conf-{s}", conf).cert((leaves[s].cert, "gw-cert.pem"), ims[s].cert)
                    .ca(root.cert).key(leaves[s].key))
    a, b = start_pair(harness, pair, sides["a"], sides["b"], kind_a, kind_b, initiator)
    init, resp = (a, b) if initiator == "a" else (b, a)
    tunnel_up(init, resp, pair)
    for peer, other in ((a, "b"), (b, "a")):
        if peer.kind == "charon":
            # charon names the intermediate it took from the CERT payload as "untrusted".
            assert re.search(rf'using untrusted intermediate certificate ".*chain-im-{other}', peer.log()), \
                peer.describe()


# ---------------------------------------------------------------------------------------------
# send_cert = never, send_certreq = no: both sides use the peer certificates they were given


@pytest.mark.parametrize("roles", ["charon-charon", "ternd-a-initiator", "ternd-b-responder", "ternd-ternd"])
def test_pinned_peer_certs_without_cert_payloads(harness, pair, pki_store, strongswan, roles):
    """A: send_cert = never, send_certreq = no. B (send_cert default ifasked) gets no CERTREQ, so it
    sends no certificate either. Each side has the other's certificate as remote.certs; A initiates."""
    kind_a = "ternd" if roles in ("ternd-a-initiator", "ternd-ternd") else "charon"
    kind_b = "ternd" if roles in ("ternd-b-responder", "ternd-ternd") else "charon"
    root = pki_store.root("pki", "ecdsa256")
    leaves = {s: pki_store.leaf("pki", root, "ecdsa256", s) for s in "ab"}
    sides = {}
    for s in "ab":
        o = other_side(s)
        conf = gw_conf(s, leaves[s].fqdn, leaves[o].fqdn, remote_extra="certs = peer-cert.pem",
                       conn_extra="send_cert = never\n        send_certreq = no" if s == "a" else "")
        sides[s] = (SideDir(harness.artifacts / f"conf-{s}", conf)
                    .cert((leaves[s].cert, "gw-cert.pem"), (leaves[o].cert, "peer-cert.pem"))
                    .ca(root.cert).key(leaves[s].key))
    a, b = start_pair(harness, pair, sides["a"], sides["b"], kind_a, kind_b, "a")
    tunnel_up(a, b, pair)
    # No CERT payload either way; A sends no CERTREQ (B's own CERTREQ is allowed: B did not opt out).
    never = {"a": ["sending cert request", "sending end entity cert", "received end entity cert"],
             "b": ["received cert request", "sending end entity cert", "received end entity cert"]}
    for peer, s in ((a, "a"), (b, "b")):
        if peer.kind == "charon":
            for line in never[s]:
                assert line not in peer.log(), f"{peer.label} logged {line!r}\n{peer.describe()}"


# ---------------------------------------------------------------------------------------------
# A CRL added later takes effect after a reload (ternd: SIGHUP; charon: swanctl --load-all)


@pytest.mark.parametrize("verifier", ["charon", "ternd"])
def test_crl_added_then_reload_refuses(harness, pair, pki_store, strongswan, verifier):
    root = pki_store.root("tern", "ecdsa256")
    leaf_a = pki_store.leaf("tern", root, "ecdsa256", "a", tag="revoked-later")
    leaf_b = pki_store.leaf("tern", root, "ecdsa256", "b")
    crl = pki_store.crl("tern", root, [leaf_a])
    side_a = (SideDir(harness.artifacts / "conf-a", gw_conf("a", leaf_a.fqdn, leaf_b.fqdn))
              .cert((leaf_a.cert, "gw-cert.pem")).ca(root.cert).key(leaf_a.key))
    side_b = (SideDir(harness.artifacts / "conf-b", gw_conf("b", leaf_b.fqdn, leaf_a.fqdn))
              .cert((leaf_b.cert, "gw-cert.pem")).ca(root.cert).key(leaf_b.key))
    a, b = start_pair(harness, pair, side_a, side_b, "charon", verifier, "a")
    tunnel_up(a, b, pair)
    a.proc.terminate(ike="gw")
    wait_for(lambda: not a.any_child() and not b.any_child(), timeout=15, what="tunnel down")
    shutil.copyfile(crl, side_b.path / "x509crl" / "root.crl.pem")
    if verifier == "ternd":
        before = len(b.log())
        b.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: re.search(r"^.*reload.*$", b.log()[before:], re.M), timeout=10,
                 what="ternd to log its reload", diag=b.describe)
        assert "reload failed" not in b.log()[before:], b.describe()
    else:
        b.proc.load()
    ok, out = a.initiate()
    assert not ok, f"initiate succeeded after the CRL was loaded:\n{out}"
    wait_for(lambda: not a.any_child() and not b.any_child(), timeout=15, what="no CHILD SA on either side")
    want = TERND_REASON["revoked_x509crl"] if verifier == "ternd" else r"certificate was revoked"
    wait_for(lambda: re.search(want, b.log(), re.I), timeout=10, what=f"{verifier} to log /{want}/", diag=b.describe)


# ---------------------------------------------------------------------------------------------
# The seed's certificate site-to-site configuration, with the seed's own PKI commands


def seed_pki(tmp: Path, tern: Path) -> Path:
    """Seed 001 section 9 verbatim, `pki` -> `tern pki`, /etc/swanctl -> tmp, plus gateway B the
    same way (the seed shows only A). Returns tmp (its private/, x509/, x509ca/)."""
    for d in ("private", "x509", "x509ca"):
        (tmp / d).mkdir(parents=True, exist_ok=True)
    if (tmp / "x509" / "gw-b-cert.pem").exists():
        return tmp
    t = str(tern)
    cmds = [f"{t} pki --gen --type rsa --size 4096 --outform pem > private/ca-key.pem",
            f'{t} pki --self --ca --lifetime 3650 --in private/ca-key.pem --dn "C=CA, O=kldload, CN=IPsec CA" '
            f"--outform pem > x509ca/ca-cert.pem"]
    for gw, ip in (("a", "203.0.113.1"), ("b", "198.51.100.1")):
        cmds += [f"{t} pki --gen --type rsa --size 2048 --outform pem > private/gw-{gw}-key.pem",
                 f"{t} pki --req --type rsa --in private/gw-{gw}-key.pem "
                 f'--dn "C=CA, O=kldload, CN=gateway-{gw}.example.com" --san gateway-{gw}.example.com --san {ip} '
                 f"--outform pem > gw-{gw}-req.pem",
                 f"{t} pki --issue --cacert x509ca/ca-cert.pem --cakey private/ca-key.pem --in gw-{gw}-req.pem "
                 f"--lifetime 365 --outform pem > x509/gw-{gw}-cert.pem"]
    for c in cmds:
        p = subprocess.run(["bash", "-o", "pipefail", "-c", c], cwd=tmp, capture_output=True, timeout=300)
        assert p.returncode == 0, f"{c}\n{p.stderr.decode(errors='replace')}"
    return tmp


@pytest.fixture(scope="session")
def seed_dir(tmp_path_factory, tern_bins):
    return seed_pki(tmp_path_factory.mktemp("seed-pki"), tern_bins / "tern")


# The seed's inner selectors 10.1.0.0/24 and 10.2.0.0/24 are replaced with halves of 192.0.2.0/24:
# the test rules allow only documentation ranges inside test namespaces (203.0.113.1 and 198.51.100.1,
# the seed's gateway addresses, stay as written).
SEED_TS = {"10.1.0.0/24": "192.0.2.0/25", "10.2.0.0/24": "192.0.2.128/25"}
SEED_INNER = {"a": "192.0.2.1", "b": "192.0.2.129"}

SEED_GATEWAY_B = """connections {
site-a {
version = 2
local_addrs = 198.51.100.1
remote_addrs = 203.0.113.1
local {
auth = pubkey
certs = gw-b-cert.pem
id = gateway-b.example.com
}
remote {
auth = pubkey
id = gateway-a.example.com
}
children {
lan-to-lan {
local_ts = 192.0.2.128/25
remote_ts = 192.0.2.0/25
esp_proposals = aes256gcm128-modp2048
dpd_action = restart
}
}
proposals = aes256-sha256-x25519
}
}
"""


def seed_conf_a() -> str:
    text = (FIXTURES / "seed001-gateway-a-certs.conf").read_text()
    for old, new in SEED_TS.items():
        assert old in text
        text = text.replace(old, new)
    return text


@pytest.mark.parametrize("roles", ["charon-charon", "ternd-a", "ternd-b", "ternd-ternd"])
def test_seed_certificate_site_to_site(harness, seed_dir, strongswan, roles):
    """Gateway A's configuration as the seed writes it (start_action = start), gateway B its mirror."""
    kind_a = "ternd" if roles in ("ternd-a", "ternd-ternd") else "charon"
    kind_b = "ternd" if roles in ("ternd-b", "ternd-ternd") else "charon"
    na, nb = ike.seed_gateways(harness)
    na.add_addr("lo", SEED_INNER["a"] + "/32")
    nb.add_addr("lo", SEED_INNER["b"] + "/32")
    side = {}
    for gw, conf in (("a", seed_conf_a()), ("b", SEED_GATEWAY_B)):
        side[gw] = (SideDir(harness.artifacts / f"conf-{gw}", conf).cert(seed_dir / "x509" / f"gw-{gw}-cert.pem")
                    .ca(seed_dir / "x509ca" / "ca-cert.pem").key(seed_dir / "private" / f"gw-{gw}-key.pem").write())
    b = launch(harness, kind_b, nb, side["b"], label=f"{kind_b}-gw-b")
    a = launch(harness, kind_a, na, side["a"], label=f"{kind_a}-gw-a")   # start_action = start initiates
    ca = a.wait_installed("lan-to-lan", timeout=30)
    cb = b.wait_installed("lan-to-lan", timeout=30)
    assert (ca["spi-in"], ca["spi-out"]) == (cb["spi-out"], cb["spi-in"]), (ca, cb)
    na.ping(SEED_INNER["b"], src=SEED_INNER["a"], count=2)
    nb.ping(SEED_INNER["a"], src=SEED_INNER["b"], count=2)
    assert "gateway-b.example.com" in remote_ids(a), remote_ids(a)
    assert "gateway-a.example.com" in remote_ids(b), remote_ids(b)


# ---------------------------------------------------------------------------------------------
# Refusals: A presents a bad certificate, B verifies it


NEGATIVE_CASES = ["expired", "not_yet_valid", "unknown_ca", "revoked_x509crl", "revoked_crl_uri", "id_mismatch",
                  "wrong_key"]

# What ternd must say when it is the verifier (case-insensitive, searched in its stderr).
TERND_REASON = {
    "expired": r"expired",
    "not_yet_valid": r"not valid before",
    "unknown_ca": r"no trusted CA",
    "revoked_x509crl": r"revoked",
    "revoked_crl_uri": r"revoked",
    "id_mismatch": r"not confirmed by|does not match",
    "wrong_key": r"does not verify|does not match",
}

# What charon 5.9.8 says when it is the verifier (charon.log at cfg 2), as seen in the control runs:
# every line must appear. Every refusal ends in "no trusted ECDSA public key found for '<id>'"
# (CHARON_FINAL), so the id mismatch, which logs nothing else, is told apart by the absence of the
# other cases' lines.
CHARON_FINAL = r"no trusted ECDSA public key found for 'gateway-a\.example\.com'"
CHARON_REASON = {
    "expired": [r"subject certificate invalid \(valid from \w+ \d+ [\d:]+ 2020 to \w+ \d+ [\d:]+ 2021\)", CHARON_FINAL],
    "not_yet_valid": [r"subject certificate invalid \(valid from \w+ \d+ [\d:]+ 2040 to \w+ \d+ [\d:]+ 2041\)",
                      CHARON_FINAL],
    "unknown_ca": [r'no issuer certificate found for "C=CA, O=Tern tests, CN=gateway-a\.example\.com"', CHARON_FINAL],
    "revoked_x509crl": [r"using cached crl", r"certificate was revoked on .* reason: key compromise", CHARON_FINAL],
    "revoked_crl_uri": [r"fetching crl from 'file:///.*\.der'", r"certificate was revoked on .* reason: key compromise",
                        CHARON_FINAL],
    "id_mismatch": [CHARON_FINAL],
    "wrong_key": [r"constraint check failed: peer not authenticated with peer cert "
                  r"'C=CA, O=Tern tests, CN=gateway-a\.example\.com'"],
}
CHARON_OTHER_REASONS = (r"subject certificate invalid|no issuer certificate|certificate was revoked"
                        r"|constraint check failed")

# (A's kind, B's kind, initiating side); A presents, B verifies.
COMBOS = {
    "charon-presents-init_charon-verifies": ("charon", "charon", "a"),
    "charon-presents_charon-verifies-init": ("charon", "charon", "b"),
    "charon-presents-init_ternd-verifies": ("charon", "ternd", "a"),
    "charon-presents_ternd-verifies-init": ("charon", "ternd", "b"),
    "ternd-presents-init_charon-verifies": ("ternd", "charon", "a"),
    "ternd-presents_charon-verifies-init": ("ternd", "charon", "b"),
    "ternd-presents-init_ternd-verifies": ("ternd", "ternd", "a"),
}


def negative_sides(store: PkiStore, artifacts: Path, case: str) -> tuple[SideDir, SideDir]:
    """A's bad certificate (made by `pki` for some cases, `tern pki` for others) and B's verifier setup.
    Both trust only the root R (tern, ECDSA P-256); B has a good certificate from R."""
    kt = "ecdsa256"
    root = store.root("tern", kt)
    good_a = store.leaf("tern", root, kt, "a")
    good_b = store.leaf("tern", root, kt, "b")
    remote_extra, sections, crls, b_certs = "", "", [], []
    if case == "expired":
        bad = store.leaf("pki", root, kt, "a", tag="expired", validity=LONG_AGO)
    elif case == "not_yet_valid":
        bad = store.leaf("tern", root, kt, "a", tag="future", validity=FAR_AHEAD)
    elif case == "unknown_ca":
        rogue = store.root("pki", kt, "rogue", cn="Rogue CA")
        bad = store.leaf("pki", rogue, kt, "a", tag="rogue")
    elif case == "revoked_x509crl":
        bad = store.leaf("tern", root, kt, "a", tag="revoked")
        crls = [store.crl("tern", root, [bad], outform="pem")]
    elif case == "revoked_crl_uri":
        bad = store.leaf("tern", root, kt, "a", tag="revoked")
        crl = store.crl("pki", root, [bad], outform="der")
        sections = (f"authorities {{\n    test-root {{\n        cacert = root.pem\n"
                    f"        crl_uris = file://{crl}\n    }}\n}}")
    elif case == "id_mismatch":
        bad = store.leaf("tern", root, kt, "a", tag="other", cn="other-a.example.com", sans=["other-a.example.com"])
    elif case == "wrong_key":
        # B pins A's real certificate; A presents another one for the same id, with its own key.
        bad = store.leaf("pki", root, kt, "a", tag="second")
        remote_extra = "certs = gw-a-pinned.pem"
        b_certs = [(good_a.cert, "gw-a-pinned.pem")]
    else:
        raise ValueError(case)
    conf_a = gw_conf("a", "gateway-a.example.com", "gateway-b.example.com")
    conf_b = gw_conf("b", "gateway-b.example.com", "gateway-a.example.com", remote_extra=remote_extra,
                     sections=sections)
    side_a = (SideDir(artifacts / "conf-a", conf_a).cert((bad.cert, "gw-cert.pem")).ca((root.cert, "root.pem"))
              .key(bad.key))
    side_b = (SideDir(artifacts / "conf-b", conf_b).cert((good_b.cert, "gw-cert.pem"), *b_certs)
              .ca((root.cert, "root.pem")).crl(*crls).key(good_b.key))
    return side_a, side_b


@pytest.mark.parametrize("combo", list(COMBOS))
@pytest.mark.parametrize("case", NEGATIVE_CASES)
def test_bad_certificate_refused(harness, pair, pki_store, strongswan, case, combo):
    kind_a, kind_b, initiator = COMBOS[combo]
    side_a, side_b = negative_sides(pki_store, harness.artifacts, case)
    a, b = start_pair(harness, pair, side_a, side_b, kind_a, kind_b, initiator)
    init = a if initiator == "a" else b
    ok, out = init.initiate()
    assert not ok, f"{case}: initiate succeeded on {init.label}:\n{out}"
    # The responder may have installed the CHILD before the initiator refused it: it must go.
    wait_for(lambda: not a.any_child() and not b.any_child(), timeout=15, what="no CHILD SA on either side",
             diag=lambda: a.describe() + b.describe())
    assert not a.installed() and not b.installed()
    if case == "id_mismatch" and a.kind == "ternd":
        # Stricter than charon (which sends the certificate and lets the peer refuse it): ternd will
        # not authenticate as an identity its own certificate does not confirm.
        want = r"local identity 'gateway-a\.example\.com' is not confirmed by our certificate"
        wait_for(lambda: re.search(want, a.log(), re.I), timeout=10, what=f"ternd (presenter) to log /{want}/",
                 diag=a.describe)
        return
    if b.kind == "ternd":
        wait_for(lambda: re.search(TERND_REASON[case], b.log(), re.I), timeout=10,
                 what=f"ternd (verifier) to log /{TERND_REASON[case]}/", diag=b.describe)
    else:
        for line in CHARON_REASON[case]:
            wait_for(lambda: re.search(line, b.log(), re.I), timeout=10, what=f"charon (verifier) to log /{line}/",
                     diag=b.describe)
        if case == "id_mismatch":
            assert not re.search(CHARON_OTHER_REASONS, b.log()), b.describe()
    if a.kind == "ternd" and b.kind == "charon":
        # ternd presented: it must report the AUTHENTICATION_FAILED charon sent, in IKE_AUTH's response
        # (ternd initiated) or in an INFORMATIONAL (charon initiated).
        want = r"peer refused IKE_AUTH" if initiator == "a" else r"AUTHENTICATION_FAILED"
        wait_for(lambda: re.search(want, a.log(), re.I), timeout=10, what=f"ternd to log /{want}/", diag=a.describe)
