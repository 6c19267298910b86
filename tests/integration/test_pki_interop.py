"""`tern pki` against strongSwan's `pki` 5.9.8 and OpenSSL 3, in both directions.

What tern makes must be read and accepted by `openssl x509/req/verify/crl` and `pki --print/--verify`;
what pki and openssl make must be read, issued from and verified by `tern pki`. The seed's certificate
commands (seed 001 section 9) run with `pki` replaced by `tern pki`, in a temporary directory.

Only files in pytest's tmp_path are written; no network, no namespaces, no daemons.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from netns import tern_bin_dir

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl not installed")

needs_pki = pytest.mark.skipif(shutil.which("pki") is None, reason="strongSwan pki not installed (scripts/setup.sh)")


@pytest.fixture(scope="module")
def tern():
    path = tern_bin_dir() / "tern"
    if not path.exists():
        pytest.fail(f"{path} not found: build with `swift build` or set TERN_BIN_DIR", pytrace=False)
    return str(path)


def run(cmd, *, cwd: Path, stdin: bytes | None = None, check: bool = True, timeout: float = 120):
    """Runs a command in `cwd`; stdout is bytes (keys and DER), stderr text. pki's TPM plugin noise is dropped."""
    p = subprocess.run(cmd, cwd=cwd, input=stdin, capture_output=True, timeout=timeout)
    err = "\n".join(l for l in p.stderr.decode(errors="replace").splitlines()
                    if "tpm" not in l.lower() and "TPM 2.0" not in l)
    if check and p.returncode != 0:
        raise AssertionError(f"exit {p.returncode}: {' '.join(map(str, cmd))}\nstdout: {p.stdout[-2000:]!r}\nstderr: {err}")
    return p.returncode, p.stdout, err


def sh(cmd: str, *, cwd: Path, check: bool = True):
    """A shell pipeline with redirections, as the seed writes its commands."""
    p = subprocess.run(["bash", "-o", "pipefail", "-c", cmd], cwd=cwd, capture_output=True, timeout=180)
    if check and p.returncode != 0:
        raise AssertionError(f"exit {p.returncode}: {cmd}\nstdout: {p.stdout[-2000:]!r}\nstderr: {p.stderr.decode(errors='replace')}")
    return p


def text(cmd, *, cwd: Path, **kw) -> str:
    return run(cmd, cwd=cwd, **kw)[1].decode()


def pki_print(path: Path, *extra) -> str:
    return text(["pki", "--print", "--in", str(path), *extra], cwd=path.parent)


def openssl_verify(ca: Path, cert: Path, *extra) -> tuple[int, str]:
    rc, out, err = run(["openssl", "verify", *extra, "-CAfile", str(ca), str(cert)], cwd=cert.parent, check=False)
    return rc, out.decode() + err


# ---------------------------------------------------------------------------------------------------
# The seed's commands


@needs_pki
def test_seed_section9_commands_with_tern_pki(tern, tmp_path):
    """Seed 001 §9 verbatim with `pki` → `tern pki` and /etc/swanctl → a temp dir."""
    for d in ("private", "x509ca", "x509"):
        (tmp_path / d).mkdir()
    t = tern
    sh(f"{t} pki --gen --type rsa --size 4096 --outform pem > private/ca-key.pem", cwd=tmp_path)
    sh(f'{t} pki --self --ca --lifetime 3650 \\\n --in private/ca-key.pem \\\n --dn "C=CA, O=kldload, CN=IPsec CA" \\\n'
       f" --outform pem > x509ca/ca-cert.pem", cwd=tmp_path)
    sh(f"{t} pki --gen --type rsa --size 2048 --outform pem > private/gw-a-key.pem", cwd=tmp_path)
    sh(f"{t} pki --req --type rsa \\\n --in private/gw-a-key.pem \\\n"
       f' --dn "C=CA, O=kldload, CN=gateway-a.example.com" \\\n --san gateway-a.example.com --san 203.0.113.1 \\\n'
       f" --outform pem > gw-a-req.pem", cwd=tmp_path)
    sh(f"{t} pki --issue --cacert x509ca/ca-cert.pem \\\n --cakey private/ca-key.pem \\\n"
       f" --in gw-a-req.pem --lifetime 365 \\\n --outform pem > x509/gw-a-cert.pem", cwd=tmp_path)

    ca, cert = tmp_path / "x509ca/ca-cert.pem", tmp_path / "x509/gw-a-cert.pem"
    assert (tmp_path / "private/ca-key.pem").read_text().startswith("-----BEGIN RSA PRIVATE KEY-----")
    rc, out = openssl_verify(ca, cert)
    assert rc == 0 and "OK" in out, out
    rc, out, err = run(["pki", "--verify", "--in", str(cert), "--cacert", str(ca)], cwd=tmp_path, check=False)
    assert rc == 0 and "certificate trusted, lifetimes valid" in out.decode(), (out, err)

    # What the certificates say, as OpenSSL reads them.
    ca_text = text(["openssl", "x509", "-in", str(ca), "-noout", "-text"], cwd=tmp_path)
    assert "Issuer: C = CA, O = kldload, CN = IPsec CA" in ca_text
    assert re.search(r"Basic Constraints: critical\s+CA:TRUE", ca_text), ca_text
    assert re.search(r"Key Usage: critical\s+Certificate Sign, CRL Sign", ca_text), ca_text
    assert "RSA Public-Key: (4096 bit)" in ca_text or "Public-Key: (4096 bit)" in ca_text
    assert "sha384WithRSAEncryption" in ca_text  # strongSwan's default digest for a 4096-bit key
    gw_text = text(["openssl", "x509", "-in", str(cert), "-noout", "-text"], cwd=tmp_path)
    assert "Subject: C = CA, O = kldload, CN = gateway-a.example.com" in gw_text
    assert "DNS:gateway-a.example.com, IP Address:203.0.113.1" in gw_text
    assert "Authority Key Identifier" in gw_text
    days = text(["openssl", "x509", "-in", str(cert), "-noout", "-dates"], cwd=tmp_path)
    assert "notBefore" in days and "notAfter" in days

    # pki --print and tern pki --print agree line for line (the clock may tick between the two runs).
    for path in (ca, cert):
        ours = text([tern, "pki", "--print", "--in", str(path)], cwd=tmp_path)
        theirs = pki_print(path)
        strip = lambda s: re.sub(r"expires in \d+ days", "expires in N days", s)
        assert strip(ours) == strip(theirs), f"tern:\n{ours}\npki:\n{theirs}"


def test_real_pki_rejects_the_seed_issue_without_type_but_tern_recognizes_the_request(tern, tmp_path):
    """pki 5.9.8 --issue defaults to --type pub, so the seed's --issue of a request fails there; tern recognizes it."""
    run([tern, "pki", "--gen", "--type", "ecdsa", "--size", "256", "--outfile", "ca.key"], cwd=tmp_path)
    run([tern, "pki", "--self", "--ca", "--in", "ca.key", "--dn", "CN=Root", "--outfile", "ca.der"], cwd=tmp_path)
    run([tern, "pki", "--gen", "--type", "ecdsa", "--size", "256", "--outfile", "ee.key"], cwd=tmp_path)
    run([tern, "pki", "--req", "--in", "ee.key", "--dn", "CN=ee", "--outfile", "ee.req"], cwd=tmp_path)
    run([tern, "pki", "--issue", "--cacert", "ca.der", "--cakey", "ca.key", "--in", "ee.req", "--outfile", "ee.der"], cwd=tmp_path)
    assert "subject=CN = ee" in text(["openssl", "x509", "-inform", "der", "-in", "ee.der", "-noout", "-subject"], cwd=tmp_path)
    if shutil.which("pki"):
        rc, _, err = run(["pki", "--issue", "--cacert", "ca.der", "--cakey", "ca.key", "--in", "ee.req"], cwd=tmp_path, check=False)
        assert rc != 0 and "parsing public key failed" in err


# ---------------------------------------------------------------------------------------------------
# tern makes, OpenSSL and pki read


@pytest.mark.parametrize("keytype,size,openssl_marker", [
    ("rsa", 2048, "modulus:"), ("rsa", 3072, "modulus:"), ("ecdsa", 256, "NIST CURVE: P-256"),
    ("ecdsa", 384, "NIST CURVE: P-384"), ("ecdsa", 521, "NIST CURVE: P-521"), ("ed25519", 0, "ED25519 Private-Key:"),
])
def test_generated_keys_are_read_by_openssl_and_pki(tern, tmp_path, keytype, size, openssl_marker):
    args = [tern, "pki", "--gen", "--type", keytype, "--outform", "pem"] + (["--size", str(size)] if size else [])
    _, pem, _ = run(args, cwd=tmp_path)
    (tmp_path / "k.pem").write_bytes(pem)
    label = {"rsa": "RSA PRIVATE KEY", "ecdsa": "EC PRIVATE KEY", "ed25519": "PRIVATE KEY"}[keytype]
    assert pem.startswith(f"-----BEGIN {label}-----".encode())
    out = text(["openssl", "pkey", "-in", "k.pem", "-noout", "-text"], cwd=tmp_path)
    assert openssl_marker in out, out
    if keytype == "ecdsa":
        text(["openssl", "ec", "-in", "k.pem", "-noout", "-check"], cwd=tmp_path)
    if size:
        assert f"({size} bit" in out, out
    # DER output is what pki writes by default, and tern reads it back.
    run([tern, "pki", "--gen", "--type", keytype, "--outfile", "k.der"] + (["--size", str(size)] if size else []), cwd=tmp_path)
    assert os.stat(tmp_path / "k.der").st_mode & 0o777 == 0o600
    assert "privkey:" in text([tern, "pki", "--print", "--in", "k.der"], cwd=tmp_path)
    if shutil.which("pki"):
        printed = pki_print(tmp_path / "k.pem", "--type", "priv")
        bits = {"ed25519": 256}.get(keytype, size)
        assert f"privkey:   {keytype.upper()} {bits} bits" in printed, printed
        # Same key identifiers from both tools.
        ours = text([tern, "pki", "--keyid", "--in", "k.pem"], cwd=tmp_path)
        theirs = text(["pki", "--keyid", "--in", "k.pem"], cwd=tmp_path)
        assert ours == theirs


def make_ca(tern, d: Path, keytype="rsa", size="3072", dn="C=CH, O=Tern Test, CN=Test Root", extra=()):
    run([tern, "pki", "--gen", "--type", keytype, "--size", size, "--outfile", "ca.key"], cwd=d)
    run([tern, "pki", "--self", "--ca", "--in", "ca.key", "--dn", dn, "--outform", "pem", "--outfile", "ca.pem", *extra], cwd=d)
    return d / "ca.pem", d / "ca.key"


@pytest.mark.parametrize("keytype,size", [("rsa", "3072"), ("ecdsa", "384"), ("ed25519", "256")])
def test_certificates_from_tern_verify_with_openssl_and_pki(tern, tmp_path, keytype, size):
    ca, cakey = make_ca(tern, tmp_path, keytype, size)
    run([tern, "pki", "--gen", "--type", "ecdsa", "--size", "256", "--outfile", "ee.key"], cwd=tmp_path)
    run([tern, "pki", "--req", "--in", "ee.key", "--dn", "C=CH, O=Tern Test, CN=moon.example.org",
         "--san", "moon.example.org", "--san", "192.0.2.1", "--san", "2001:db8::1", "--san", "moon@example.org",
         "--outform", "pem", "--outfile", "ee.req"], cwd=tmp_path)
    out = text(["openssl", "req", "-in", "ee.req", "-verify", "-noout", "-text"], cwd=tmp_path, check=True)
    assert "DNS:moon.example.org, IP Address:192.0.2.1, IP Address:2001:DB8:0:0:0:0:0:1, email:moon@example.org" in out, out
    run([tern, "pki", "--issue", "--cacert", "ca.pem", "--cakey", "ca.key", "--type", "pkcs10", "--in", "ee.req",
         "--flag", "serverAuth", "--flag", "ikeIntermediate", "--crl", "http://crl.example.org/root.crl",
         "--ocsp", "http://ocsp.example.org", "--lifetime", "30", "--serial", "0a0b0c", "--outform", "pem",
         "--outfile", "ee.pem"], cwd=tmp_path)
    rc, out = openssl_verify(ca, tmp_path / "ee.pem")
    assert rc == 0, out
    x = text(["openssl", "x509", "-in", "ee.pem", "-noout", "-text"], cwd=tmp_path)
    assert "Serial Number: 658188 (0xa0b0c)" in x, x
    assert "TLS Web Server Authentication, 1.3.6.1.5.5.8.2.2" in x
    assert "URI:http://crl.example.org/root.crl" in x
    assert "OCSP - URI:http://ocsp.example.org" in x
    if shutil.which("pki"):
        rc, out, err = run(["pki", "--verify", "--in", "ee.pem", "--cacert", "ca.pem"], cwd=tmp_path, check=False)
        assert rc == 0 and "certificate trusted, lifetimes valid" in out.decode(), (out, err)
        printed = pki_print(tmp_path / "ee.pem")
        assert "altNames:  moon.example.org, 192.0.2.1, 2001:db8::1, moon@example.org" in printed, printed
        assert "flags:     serverAuth ikeIntermediate" in printed
        assert "CRL URIs:  http://crl.example.org/root.crl" in printed
        assert "serial:    0a:0b:0c" in printed
        ours = text([tern, "pki", "--print", "--in", "ee.pem"], cwd=tmp_path)
        assert re.sub(r"\d+ days", "N days", ours) == re.sub(r"\d+ days", "N days", printed)


@needs_pki
def test_intermediate_chain_with_pathlen(tern, tmp_path):
    make_ca(tern, tmp_path, "ecdsa", "384", extra=("--pathlen", "1"))
    run([tern, "pki", "--gen", "--type", "ecdsa", "--size", "256", "--outfile", "int.key"], cwd=tmp_path)
    run([tern, "pki", "--issue", "--cacert", "ca.pem", "--cakey", "ca.key", "--in", "int.key", "--type", "priv",
         "--dn", "C=CH, O=Tern Test, CN=Intermediate", "--ca", "--pathlen", "0", "--outform", "pem", "--outfile", "int.pem"],
        cwd=tmp_path)
    run([tern, "pki", "--gen", "--type", "ed25519", "--outfile", "ee.key"], cwd=tmp_path)
    run([tern, "pki", "--issue", "--cacert", "int.pem", "--cakey", "int.key", "--in", "ee.key", "--type", "priv",
         "--dn", "CN=leaf", "--san", "leaf.example.org", "--outform", "pem", "--outfile", "ee.pem"], cwd=tmp_path)
    rc, out = openssl_verify(tmp_path / "ca.pem", tmp_path / "ee.pem", "-untrusted", str(tmp_path / "int.pem"))
    assert rc == 0, out
    assert "pathlen:   0" in pki_print(tmp_path / "int.pem")
    # tern verifies the chain with the intermediate given as a second --cacert, as pki takes it.
    rc, out, err = run([tern, "pki", "--verify", "--in", "ee.pem", "--cacert", "int.pem", "--cacert", "ca.pem"],
                       cwd=tmp_path, check=False)
    assert rc == 0 and b"certificate trusted, lifetimes valid" in out, (out, err)
    rc, out, _ = run(["pki", "--verify", "--in", "ee.pem", "--cacert", "int.pem", "--cacert", "ca.pem"], cwd=tmp_path, check=False)
    assert rc == 0, out
    # Without the root nothing vouches for the intermediate... unless it is itself the anchor (pki's rule).
    rc, out, err = run([tern, "pki", "--verify", "--in", "ee.pem", "--cacert", str(tmp_path / "ca.pem")], cwd=tmp_path, check=False)
    assert rc == 1 and b"certificate untrusted" in out and "Intermediate" in err


@needs_pki
def test_crl_from_tern_is_read_by_openssl_and_pki_and_revokes(tern, tmp_path):
    make_ca(tern, tmp_path, "rsa", "2048")
    for name in ("good", "bad"):
        run([tern, "pki", "--gen", "--type", "ecdsa", "--size", "256", "--outfile", f"{name}.key"], cwd=tmp_path)
        run([tern, "pki", "--issue", "--cacert", "ca.pem", "--cakey", "ca.key", "--type", "priv", "--in", f"{name}.key",
             "--dn", f"CN={name}", "--outform", "pem", "--outfile", f"{name}.pem"], cwd=tmp_path)
    run([tern, "pki", "--signcrl", "--cacert", "ca.pem", "--cakey", "ca.key", "--reason", "key-compromise",
         "--cert", "bad.pem", "--serial", "7f01", "--lifetime", "7", "--outform", "pem", "--outfile", "crl.pem"], cwd=tmp_path)
    crl_text = text(["openssl", "crl", "-in", "crl.pem", "-CAfile", "ca.pem", "-noout", "-text"], cwd=tmp_path)
    assert "Key Compromise" in crl_text and "Serial Number: 7F01" in crl_text and "X509v3 CRL Number" in crl_text
    rc, out, err = run(["openssl", "crl", "-in", "crl.pem", "-CAfile", "ca.pem", "-noout"], cwd=tmp_path, check=False)
    assert rc == 0 and "verify OK" in (out.decode() + err)
    rc, out = openssl_verify(tmp_path / "ca.pem", tmp_path / "bad.pem", "-crl_check", "-CRLfile", str(tmp_path / "crl.pem"))
    assert rc != 0 and "revoked" in out
    rc, out = openssl_verify(tmp_path / "ca.pem", tmp_path / "good.pem", "-crl_check", "-CRLfile", str(tmp_path / "crl.pem"))
    assert rc == 0, out
    printed = pki_print(tmp_path / "crl.pem", "--type", "crl")
    assert "2 revoked certificates:" in printed and "key compromise" in printed, printed
    ours = text([tern, "pki", "--print", "--in", "crl.pem"], cwd=tmp_path)
    assert re.sub(r"\d+ days", "N", ours) == re.sub(r"\d+ days", "N", printed)
    # pki --verify with the CRL: the revoked certificate is untrusted, the other not revoked; tern says the same.
    for tool in (["pki"], [tern, "pki"]):
        rc, out, _ = run([*tool, "--verify", "--in", "bad.pem", "--cacert", "ca.pem", "--crl", "crl.pem"], cwd=tmp_path, check=False)
        assert rc == 1 and b"certificate untrusted" in out, (tool, out)
        rc, out, _ = run([*tool, "--verify", "--in", "good.pem", "--cacert", "ca.pem", "--crl", "crl.pem"], cwd=tmp_path, check=False)
        assert rc == 0 and b"certificate trusted, lifetimes valid, certificate not revoked" in out, (tool, out)
    # A follow-up CRL keeps the old entries and counts up.
    run([tern, "pki", "--signcrl", "--cacert", "ca.pem", "--cakey", "ca.key", "--lastcrl", "crl.pem", "--serial", "03",
         "--outfile", "crl2.der"], cwd=tmp_path)
    printed = text([tern, "pki", "--print", "--in", "crl2.der"], cwd=tmp_path)
    assert "serial:    02" in printed and "3 revoked certificates:" in printed, printed


# ---------------------------------------------------------------------------------------------------
# pki and OpenSSL make, tern reads, issues and verifies


@needs_pki
@pytest.mark.parametrize("keytype,size", [("rsa", "2048"), ("ecdsa", "256"), ("ecdsa", "521"), ("ed25519", "256")])
def test_pki_keys_and_requests_are_used_by_tern(tern, tmp_path, keytype, size):
    make_ca(tern, tmp_path, "rsa", "2048")
    run(["pki", "--gen", "--type", keytype, "--size", size, "--outform", "pem"], cwd=tmp_path)
    sh(f"pki --gen --type {keytype} --size {size} > peer.der 2>/dev/null", cwd=tmp_path)  # pki's default: DER
    sh(f"pki --req --in peer.der --dn 'C=CH, CN=peer' --san peer.example.org --san 198.51.100.7 --outform pem > peer.req 2>/dev/null",
       cwd=tmp_path)
    # tern reads pki's DER key and PEM request.
    assert "privkey:" in text([tern, "pki", "--print", "--in", "peer.der"], cwd=tmp_path)
    req = text([tern, "pki", "--print", "--type", "pkcs10", "--in", "peer.req"], cwd=tmp_path)
    assert "altNames:  peer.example.org, 198.51.100.7" in req and ", ok" in req, req
    run([tern, "pki", "--issue", "--cacert", "ca.pem", "--cakey", "ca.key", "--in", "peer.req", "--type", "pkcs10",
         "--outform", "pem", "--outfile", "peer.pem"], cwd=tmp_path)
    rc, out, _ = run(["pki", "--verify", "--in", "peer.pem", "--cacert", "ca.pem"], cwd=tmp_path, check=False)
    assert rc == 0, out
    rc, out = openssl_verify(tmp_path / "ca.pem", tmp_path / "peer.pem")
    assert rc == 0, out
    # And tern's public key of pki's key matches pki's.
    ours = run([tern, "pki", "--pub", "--in", "peer.der"], cwd=tmp_path)[1]
    theirs = run(["pki", "--pub", "--in", "peer.der"], cwd=tmp_path)[1]
    assert ours == theirs


@needs_pki
def test_pki_ca_issues_and_tern_verifies(tern, tmp_path):
    sh("pki --gen --type rsa --size 3072 > ca.key 2>/dev/null", cwd=tmp_path)
    sh("pki --self --ca --in ca.key --dn 'C=CH, O=strongSwan, CN=pki Root' --outform pem > ca.pem 2>/dev/null", cwd=tmp_path)
    run([tern, "pki", "--gen", "--type", "ecdsa", "--size", "384", "--outfile", "ee.key"], cwd=tmp_path)
    run([tern, "pki", "--req", "--in", "ee.key", "--dn", "CN=tern peer", "--san", "tern.example.org", "--outfile", "ee.req"],
        cwd=tmp_path)
    sh("pki --issue --cacert ca.pem --cakey ca.key --type pkcs10 --in ee.req --flag clientAuth --outform pem > ee.pem 2>/dev/null",
       cwd=tmp_path)
    rc, out, err = run([tern, "pki", "--verify", "--in", "ee.pem", "--cacert", "ca.pem"], cwd=tmp_path, check=False)
    assert rc == 0 and b"certificate trusted, lifetimes valid" in out, (out, err)
    printed = text([tern, "pki", "--print", "--in", "ee.pem"], cwd=tmp_path)
    assert 'subject:  "CN=tern peer"' in printed and "altNames:  tern.example.org" in printed and "clientAuth" in printed
    sh("pki --signcrl --cacert ca.pem --cakey ca.key --reason superseded --cert ee.pem > crl.der 2>/dev/null", cwd=tmp_path)
    crl = text([tern, "pki", "--print", "--in", "crl.der"], cwd=tmp_path)
    assert "1 revoked certificate:" in crl and "superseded" in crl, crl
    rc, out, err = run([tern, "pki", "--verify", "--in", "ee.pem", "--cacert", "ca.pem", "--crl", "crl.der"], cwd=tmp_path, check=False)
    assert rc == 1 and b"untrusted" in out and "revoked" in err


@needs_pki
def test_pki_rsa_pss_request_and_certificate_signatures(tern, tmp_path):
    """RSASSA-PSS: tern verifies pki's PSS request and signs its own PSS request; pki accepts both."""
    sh("pki --gen --type rsa --size 2048 > k.der 2>/dev/null", cwd=tmp_path)
    sh("pki --req --in k.der --dn 'CN=pss' --rsa-padding pss --outform pem > pki-pss.req 2>/dev/null", cwd=tmp_path)
    printed = text([tern, "pki", "--print", "--type", "pkcs10", "--in", "pki-pss.req"], cwd=tmp_path)
    assert "RSASSA-PSS with SHA-256, ok" in printed, printed
    run([tern, "pki", "--req", "--in", "k.der", "--dn", "CN=pss", "--rsa-padding", "pss", "--outform", "pem",
         "--outfile", "tern-pss.req"], cwd=tmp_path)
    out = text(["openssl", "req", "-in", "tern-pss.req", "-verify", "-noout", "-text"], cwd=tmp_path)
    assert "rsassaPss" in out
    make_ca(tern, tmp_path, "rsa", "2048")
    sh(f"pki --issue --cacert ca.pem --cakey ca.key --type pkcs10 --in tern-pss.req > from-pss.der 2>/dev/null", cwd=tmp_path)


def test_openssl_keys_requests_and_certificates_are_used_by_tern(tern, tmp_path):
    # OpenSSL's own key formats: PKCS#8 RSA, SEC1 after EC PARAMETERS, PKCS#8 EC, PKCS#8 Ed25519.
    run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", "rsa8.pem"], cwd=tmp_path)
    run(["openssl", "ecparam", "-genkey", "-name", "prime256v1", "-out", "ec-sec1.pem"], cwd=tmp_path)
    run(["openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384", "-out", "ec8.pem"], cwd=tmp_path)
    run(["openssl", "genpkey", "-algorithm", "ed25519", "-out", "ed.pem"], cwd=tmp_path)
    run(["openssl", "pkey", "-in", "ec8.pem", "-outform", "der", "-out", "ec8.der"], cwd=tmp_path)
    for name, expect in (("rsa8.pem", "RSA 2048 bits"), ("ec-sec1.pem", "ECDSA 256 bits"), ("ec8.pem", "ECDSA 384 bits"),
                         ("ec8.der", "ECDSA 384 bits"), ("ed.pem", "ED25519 256 bits")):
        assert f"privkey:   {expect}" in text([tern, "pki", "--print", "--in", name], cwd=tmp_path)
        # tern's public key equals OpenSSL's, byte for byte.
        ours = run([tern, "pki", "--pub", "--in", name, "--outform", "pem"], cwd=tmp_path)[1]
        theirs = run(["openssl", "pkey", "-in", name, "-pubout"], cwd=tmp_path)[1]
        assert ours == theirs, name
    # An OpenSSL CA with a request from OpenSSL; tern issues from the request and verifies OpenSSL's certificate.
    run(["openssl", "req", "-x509", "-new", "-key", "rsa8.pem", "-subj", "/C=CH/O=OpenSSL/CN=OpenSSL Root", "-days", "30",
         "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign", "-out", "ossl-ca.pem"],
        cwd=tmp_path)
    run(["openssl", "req", "-new", "-key", "ec-sec1.pem", "-subj", "/CN=ossl peer", "-addext",
         "subjectAltName=DNS:ossl.example.org,IP:203.0.113.9", "-out", "ossl.req"], cwd=tmp_path)
    printed = text([tern, "pki", "--print", "--in", "ossl.req"], cwd=tmp_path)
    assert "altNames:  ossl.example.org, 203.0.113.9" in printed and ", ok" in printed, printed
    run([tern, "pki", "--issue", "--cacert", "ossl-ca.pem", "--cakey", "rsa8.pem", "--in", "ossl.req", "--outform", "pem",
         "--outfile", "ossl-peer.pem"], cwd=tmp_path)
    rc, out = openssl_verify(tmp_path / "ossl-ca.pem", tmp_path / "ossl-peer.pem")
    assert rc == 0, out
    run(["openssl", "x509", "-req", "-in", "ossl.req", "-CA", "ossl-ca.pem", "-CAkey", "rsa8.pem", "-CAcreateserial",
         "-days", "10", "-copy_extensions", "copy", "-out", "ossl-signed.pem"], cwd=tmp_path)
    rc, out, err = run([tern, "pki", "--verify", "--in", "ossl-signed.pem", "--cacert", "ossl-ca.pem"], cwd=tmp_path, check=False)
    assert rc == 0 and b"certificate trusted, lifetimes valid" in out, (out, err)
    # The OpenSSL root is self-signed by a trusted anchor only when given; with another CA it is untrusted.
    make_ca(tern, tmp_path, "ecdsa", "256")
    rc, out, _ = run([tern, "pki", "--verify", "--in", "ossl-signed.pem", "--cacert", "ca.pem"], cwd=tmp_path, check=False)
    assert rc == 1 and b"certificate untrusted" in out


def test_openssl_encrypted_pkcs8_keys_with_tern_pki_passphrase(tern, tmp_path):
    run(["openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384", "-aes256", "-pass", "pass:s3cret",
         "-out", "enc.pem"], cwd=tmp_path)
    run(["openssl", "pkcs8", "-topk8", "-in", "enc.pem", "-passin", "pass:s3cret", "-v2", "aes-128-cbc", "-v2prf", "hmacWithSHA512",
         "-passout", "pass:other", "-outform", "der", "-out", "enc.der"], cwd=tmp_path)
    theirs = run(["openssl", "pkey", "-in", "enc.pem", "-passin", "pass:s3cret", "-pubout"], cwd=tmp_path)[1]
    env = dict(os.environ)
    for name, passphrase in (("enc.pem", "s3cret"), ("enc.der", "other")):
        env["TERN_PKI_PASSPHRASE"] = passphrase
        p = subprocess.run([tern, "pki", "--pub", "--in", name, "--outform", "pem"], cwd=tmp_path, capture_output=True, env=env)
        assert p.returncode == 0 and p.stdout == theirs, (name, p.stderr)
        env["TERN_PKI_PASSPHRASE"] = "wrong"
        p = subprocess.run([tern, "pki", "--print", "--in", name], cwd=tmp_path, capture_output=True, env=env)
        assert p.returncode == 1 and b"wrong passphrase" in p.stderr, p.stderr
    env.pop("TERN_PKI_PASSPHRASE")
    p = subprocess.run([tern, "pki", "--print", "--in", "enc.pem"], cwd=tmp_path, capture_output=True, env=env)
    assert p.returncode == 1 and b"TERN_PKI_PASSPHRASE" in p.stderr


def test_bad_input_fails_cleanly(tern, tmp_path):
    (tmp_path / "junk").write_bytes(b"\x30\x82\xff\xff garbage")
    (tmp_path / "text").write_text("-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n")
    for args in (["--print", "--in", "junk"], ["--print", "--in", "text"], ["--pub", "--in", "junk"],
                 ["--self", "--in", "junk", "--dn", "CN=x"], ["--gen", "--type", "rsa", "--size", "1000"],
                 ["--gen", "--type", "dsa"], ["--verify", "--in", "junk"]):
        rc, out, err = run([tern, "pki", *args], cwd=tmp_path, check=False)
        assert rc != 0, args
        assert "Fatal error" not in err and "Illegal instruction" not in err, (args, err)
    make_ca(tern, tmp_path, "ecdsa", "256")
    rc, _, err = run([tern, "pki", "--self", "--in", "ca.key", "--dn", "XX=unknown"], cwd=tmp_path, check=False)
    assert rc == 1 and "unknown attribute 'XX'" in err
    # Issuing with a non-CA certificate is refused, as pki refuses it.
    run([tern, "pki", "--self", "--in", "ca.key", "--dn", "CN=not a ca", "--outfile", "plain.der"], cwd=tmp_path)
    rc, _, err = run([tern, "pki", "--issue", "--cacert", "plain.der", "--cakey", "ca.key", "--in", "ca.key", "--type", "priv"],
                     cwd=tmp_path, check=False)
    assert rc == 1 and "CA certificate misses CA basicConstraint" in err
