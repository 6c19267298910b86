"""Certificates and swanctl configuration directories for the certificate-authentication tests (issue 5).

One directory per side holds swanctl.conf and the folders beside it, exactly as strongSwan's swanctl
reads them (x509/, x509ca/, x509crl/, private/, rsa/, ecdsa/, pkcs8/), so the same directory serves
charon (`swanctl --load-all --file DIR/swanctl.conf`) and ternd (`ternd --conf DIR/swanctl.conf`).

    store = PkiStore(tmp_dir, tern_bin)              # session-wide, builds lazily and memoizes
    root = store.root("tern", "ecdsa256")            # CA made with `tern pki` (or "pki": strongSwan's)
    leaf = store.leaf("tern", root, "ecdsa256", "a") # gateway-a.example.com, its e-mail and 192.0.2.1 as SANs
    side = SideDir(harness.artifacts / "a", conf_text).cert(leaf.cert).ca(root.cert).key(leaf.key)
    peer = launch(harness, "ternd", ns, side.write(), label="ternd-a")   # or "charon"

Host A is 192.0.2.1 (inner 203.0.113.1), host B 192.0.2.2 (inner 198.51.100.1): netns.make_pair.
"""
from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import ike_setups as ike
from netns import Harness, HarnessError, NetNS, Ternd, wait_for
from strongswan import DEFAULT_PLUGINS, SWANCTL_DIRS, Charon

# curl is charon's fetcher for the file:// CRL URIs of `authorities { crl_uris }` (5.9.8 has no
# `files` plugin); revocation, constraints, x509, pem, pkcs1, pkcs8 and pubkey are in the default list.
CERT_PLUGINS = DEFAULT_PLUGINS.replace(" kernel-libipsec", " curl kernel-libipsec")

# name -> (pki --type, --size)
KEY_TYPES = {
    "rsa2048": ("rsa", "2048"),
    "rsa3072": ("rsa", "3072"),
    "rsa4096": ("rsa", "4096"),
    "ecdsa256": ("ecdsa", "256"),
    "ecdsa384": ("ecdsa", "384"),
    "ed25519": ("ed25519", None),
}

ORG = "Tern tests"
GATEWAYS = {   # side -> (fqdn, email, outer IPv4 of netns.make_pair)
    "a": ("gateway-a.example.com", "gateway-a@example.com", "192.0.2.1"),
    "b": ("gateway-b.example.com", "gateway-b@example.com", "192.0.2.2"),
}
# Dates for --not-before/--not-after in pki's default --dateform "%d.%m.%y %T".
LONG_AGO = ("01.01.20 00:00:00", "01.01.21 00:00:00")
FAR_AHEAD = ("01.01.40 00:00:00", "01.01.41 00:00:00")


def _pki_noise(line: str) -> bool:
    return "tpm" in line.lower() or "TPM 2.0" in line


@dataclass
class Authority:
    name: str
    key: Path
    cert: Path
    dn: str


@dataclass
class Leaf:
    name: str
    key: Path
    cert: Path
    dn: str
    fqdn: str
    email: str
    ip: str
    chain: list[Path] = field(default_factory=list)   # intermediates, leaf's issuer first

    def identity(self, kind: str) -> str:
        """The swanctl `id` of this gateway: fqdn, email, ip or dn."""
        return {"fqdn": self.fqdn, "email": self.email, "ip": self.ip, "dn": f'"{self.dn}"'}[kind]


class PkiStore:
    """Keys, CAs, gateway certificates and CRLs made with `tern pki` ("tern") or strongSwan's `pki`
    ("pki"), each made once per session (RSA generation is slow) under `root`."""

    def __init__(self, root: Path, tern_bin: Path):
        self.dir = Path(root)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.tern_bin = Path(tern_bin)
        self._memo: dict = {}

    # ---- running the tools ---------------------------------------------------------------------

    def _argv(self, tool: str, args: list[str]) -> list[str]:
        if tool == "tern":
            return [str(self.tern_bin), "pki"] + args
        if tool == "pki":
            if shutil.which("pki") is None:
                raise HarnessError("strongSwan pki not installed (scripts/setup.sh installs strongswan-pki)")
            return ["pki"] + args
        raise ValueError(f"unknown pki tool {tool!r}")

    def run(self, tool: str, args: list[str], out: Path) -> Path:
        argv = self._argv(tool, args)
        p = subprocess.run(argv, capture_output=True, timeout=180, cwd=self.dir)
        if p.returncode != 0 or not p.stdout:
            err = "\n".join(l for l in p.stderr.decode(errors="replace").splitlines() if not _pki_noise(l))
            raise HarnessError(f"exit {p.returncode}: {' '.join(argv)}\n{err}")
        out.write_bytes(p.stdout)
        out.chmod(0o600)
        return out

    def _once(self, key, make):
        if key not in self._memo:
            self._memo[key] = make()
        return self._memo[key]

    # ---- building blocks ----------------------------------------------------------------------

    def key(self, tool: str, keytype: str, name: str) -> Path:
        def make():
            kind, size = KEY_TYPES[keytype]
            args = ["--gen", "--type", kind] + (["--size", size] if size else []) + ["--outform", "pem"]
            return self.run(tool, args, self.dir / f"{name}-key.pem")
        return self._once(("key", name), make)

    def root(self, tool: str, keytype: str, tag: str = "root", *, cn: Optional[str] = None) -> Authority:
        name = f"{tool}-{keytype}-{tag}"

        def make():
            dn = f"C=CA, O={ORG}, CN={cn or f'{tool} {keytype} {tag} CA'}"
            key = self.key(tool, keytype, name)
            cert = self.run(tool, ["--self", "--ca", "--lifetime", "3650", "--in", str(key), "--dn", dn,
                                   "--outform", "pem"], self.dir / f"{name}-cert.pem")
            return Authority(name, key, cert, dn)
        return self._once(("root", name), make)

    def _issue(self, tool: str, issuer: Authority, key: Path, dn: str, sans: list[str], out: Path, *,
               ca: bool = False, validity: Optional[tuple[str, str]] = None) -> Path:
        """The seed's way: a PKCS#10 request, then --issue from it (pki needs --type pkcs10)."""
        req = self.run(tool, ["--req", "--in", str(key), "--dn", dn] + [a for s in sans for a in ("--san", s)]
                       + ["--outform", "pem"], out.with_suffix(".req.pem"))
        args = ["--issue", "--cacert", str(issuer.cert), "--cakey", str(issuer.key), "--type", "pkcs10",
                "--in", str(req), "--outform", "pem"]
        if validity:
            args += ["--not-before", validity[0], "--not-after", validity[1]]
        else:
            args += ["--lifetime", "365"]
        if ca:
            args += ["--ca"]
        return self.run(tool, args, out)

    def intermediate(self, tool: str, parent: Authority, keytype: str, tag: str) -> Authority:
        name = f"{tool}-{keytype}-{tag}"

        def make():
            dn = f"C=CA, O={ORG}, CN={tool} {keytype} {tag} intermediate CA"
            key = self.key(tool, keytype, name)
            cert = self._issue(tool, parent, key, dn, [], self.dir / f"{name}-cert.pem", ca=True)
            return Authority(name, key, cert, dn)
        return self._once(("intermediate", name), make)

    def leaf(self, tool: str, issuer: Authority, keytype: str, side: str, *, tag: str = "",
             cn: Optional[str] = None, sans: Optional[list[str]] = None,
             validity: Optional[tuple[str, str]] = None, chain: tuple[Authority, ...] = ()) -> Leaf:
        """A gateway certificate for side "a" or "b": DN "C=CA, O=Tern tests, CN=<fqdn>", SANs
        fqdn, e-mail and IPv4 address (unless cn/sans say otherwise)."""
        fqdn, email, ip = GATEWAYS[side]
        name = f"{tool}-{keytype}-{issuer.name}-{side}{'-' + tag if tag else ''}"

        def make():
            dn = f"C=CA, O={ORG}, CN={cn or fqdn}"
            key = self.key(tool, keytype, name)
            cert = self._issue(tool, issuer, key, dn, sans if sans is not None else [fqdn, email, ip],
                               self.dir / f"{name}-cert.pem", validity=validity)
            return Leaf(name, key, cert, dn, fqdn, email, ip, [a.cert for a in chain])
        return self._once(("leaf", name), make)

    def crl(self, tool: str, issuer: Authority, revoked: list[Leaf], *, outform: str = "pem") -> Path:
        name = f"{tool}-{issuer.name}-crl-{'-'.join(l.name for l in revoked)}.{outform}"

        def make():
            args = ["--signcrl", "--cacert", str(issuer.cert), "--cakey", str(issuer.key), "--lifetime", "30"]
            for leaf in revoked:
                args += ["--reason", "key-compromise", "--cert", str(leaf.cert)]
            return self.run(tool, args + ["--outform", outform], self.dir / name)
        return self._once(("crl", name), make)

    def encrypted(self, key: Path, passphrase: str) -> Path:
        """key as an encrypted PKCS#8 ("ENCRYPTED PRIVATE KEY", PBES2/PBKDF2-SHA256/AES-256-CBC) by OpenSSL."""
        def make():
            out = key.with_name(key.stem + "-enc.pem")
            p = subprocess.run(["openssl", "pkcs8", "-topk8", "-v2", "aes-256-cbc", "-v2prf", "hmacWithSHA256",
                                "-in", str(key), "-out", str(out), "-passout", f"pass:{passphrase}"],
                               capture_output=True, timeout=60)
            if p.returncode != 0:
                raise HarnessError(f"openssl pkcs8 -topk8 failed: {p.stderr.decode(errors='replace')}")
            out.chmod(0o600)
            return out
        return self._once(("enc", str(key)), make)


# ---------------------------------------------------------------------------------------------
# swanctl.conf text and the directory around it


def cert_conn(name: str, *, certs: str, local_extra: str = "", **kw) -> str:
    """swanctl.conf of one pubkey-authenticated IKEv2 peer with one tunnel-mode CHILD.
    certs: file names relative to x509/; remote_extra: e.g. `certs = pinned.pem` or `cacerts = x`;
    sections: more top-level sections (secrets, authorities)."""
    kw.setdefault("local_auth", "pubkey")
    return ike.conn(name, psk=None, remote_auth="pubkey", local_extra=f"certs = {certs}\n            {local_extra}", **kw)


# side -> (outer address, inner /32 selector) as netns.make_pair lays them out.
SITES = {"a": ("192.0.2.1", "203.0.113.1/32"), "b": ("192.0.2.2", "198.51.100.1/32")}


def other_side(side: str) -> str:
    return "b" if side == "a" else "a"


def gw_conf(side: str, local_id: str, remote_id: str, **kw) -> str:
    """cert_conn for connection "gw" on host `side` towards the other host, own cert x509/gw-cert.pem."""
    (addr, ts), (peer_addr, peer_ts) = SITES[side], SITES[other_side(side)]
    return cert_conn("gw", local_addr=addr, remote_addr=peer_addr, local_id=local_id, remote_id=remote_id,
                     local_ts=ts, remote_ts=peer_ts, certs="gw-cert.pem", **kw)


class SideDir:
    """One side's configuration directory: swanctl.conf plus the credential folders beside it.
    Files keep their names unless given as (source, name)."""

    def __init__(self, path: Path, conf: str):
        self.path = Path(path)
        self.conf = conf
        self.files: list[tuple[str, Path, str]] = []

    def _add(self, folder: str, f) -> "SideDir":
        src, name = (f if isinstance(f, tuple) else (f, Path(f).name))
        self.files.append((folder, Path(src), name))
        return self

    def cert(self, *fs) -> "SideDir":
        for f in fs:
            self._add("x509", f)
        return self

    def ca(self, *fs) -> "SideDir":
        for f in fs:
            self._add("x509ca", f)
        return self

    def crl(self, *fs) -> "SideDir":
        for f in fs:
            self._add("x509crl", f)
        return self

    def key(self, f, folder: str = "private") -> "SideDir":
        return self._add(folder, f)

    def write(self) -> "SideDir":
        self.path.mkdir(parents=True, exist_ok=True)
        for d in SWANCTL_DIRS:
            (self.path / d).mkdir(mode=0o700, exist_ok=True)
        for folder, src, name in self.files:
            dst = self.path / folder / name
            shutil.copyfile(src, dst)
            dst.chmod(0o600)
        conf = self.path / "swanctl.conf"
        conf.write_text(self.conf)
        conf.chmod(0o600)
        return self

    @property
    def conf_path(self) -> Path:
        return self.path / "swanctl.conf"


# ---------------------------------------------------------------------------------------------
# One peer, ternd or charon, behind one interface


class Peer:
    """ternd or charon reading one SideDir; the harness stops either."""

    def __init__(self, kind: str, proc, side: SideDir):
        self.kind = kind
        self.proc = proc
        self.side = side
        self.label = proc.label

    def initiate(self, child: str = "net", timeout: float = 20) -> tuple[bool, str]:
        """(succeeded, output): ternd's `tern initiate` verdict; for charon, what its log says next.

        charon is asked not to wait (VICI initiate with timeout -1): a waiting initiate registers a
        level-4 logger, and 5.9.8 then sometimes deadlocks when the IKE_SA fails in IKE_AUTH (the
        bus lock; strongSwan issue #566, fixed in 5.9.11): charon stops logging and ignores SIGTERM."""
        if self.kind == "ternd":
            p = self.proc.tern("initiate", "--child", child, check=False, timeout=timeout + 10)
            return p.returncode == 0, (p.stdout + p.stderr).decode(errors="replace")
        ch: Charon = self.proc
        start = len(ch.log())
        ch._command("initiate", lambda s: s.request("initiate", {"child": child, "timeout": "-1"}), 10)

        def outcome():
            new = ch.log()[start:]
            if re.search(r"CHILD_SA \S+\{\d+\} established", new):
                return "up"
            if re.search(r"IKE_SA \S+\[\d+\] state change: \w+ => DESTROYING", new):
                return "failed"
            return None
        verdict = wait_for(outcome, timeout=timeout, what=f"{self.label}: initiate {child} to finish",
                           diag=self.describe)
        return verdict == "up", ch.log()[start:]

    def installed(self, child: str = "net") -> Optional[dict]:
        if self.kind == "ternd":
            return ike.child(self.proc, child)
        kids = self.proc.children(child, "INSTALLED")
        return kids[0] if kids else None

    def any_child(self) -> bool:
        """Any CHILD SA in any state (charon lists CREATED/INSTALLING ones too)."""
        if self.kind == "ternd":
            return any(sa.get("child-sas") for sa in ike.list_sas(self.proc))
        return any(sa["child-sas"] for sa in self.proc.list_sas())

    def wait_installed(self, child: str = "net", timeout: float = 20) -> dict:
        return wait_for(lambda: self.installed(child), timeout=timeout, what=f"CHILD SA {child} on {self.label}",
                        diag=self.describe)

    def ike_sas(self) -> list[dict]:
        return ike.list_sas(self.proc) if self.kind == "ternd" else self.proc.list_sas()

    def log(self) -> str:
        return self.proc.stderr() if self.kind == "ternd" else self.proc.log()

    def describe(self) -> str:
        return self.proc.describe()


def launch(harness: Harness, kind: str, ns: NetNS, side: SideDir, *, label: str,
           charon_debug: str = "ike 2, cfg 2, knl 1, net 1, lib 1") -> Peer:
    """Starts ternd (`--conf DIR/swanctl.conf`) or charon (loading DIR with swanctl --load-all) on a
    written SideDir; waits until it is ready and its configuration is loaded."""
    if kind == "ternd":
        args = ["--conf", str(side.conf_path), "--retransmit-timeout", "1", "--retransmit-tries", "3"]
        t: Ternd = harness.ternd(ns, [], extra=args, label=label)
        t.wait_ready()
        return Peer(kind, t, side)
    if kind == "charon":
        ch = Charon.start(ns, side.path, side.conf, harness=harness, label=label, plugins=CERT_PLUGINS,
                          debug=charon_debug)
        return Peer(kind, ch, side)
    raise ValueError(f"unknown peer kind {kind!r}")


def tunnel_up(initiator: Peer, responder: Peer, pair, child: str = "net") -> tuple[dict, dict]:
    """Initiates, waits for the CHILD SA on both sides (matching SPIs) and pings both ways."""
    ok, out = initiator.initiate(child)
    assert ok, f"initiate on {initiator.label} failed:\n{out}\n{initiator.describe()}\n{responder.describe()}"
    ci = initiator.wait_installed(child)
    cr = responder.wait_installed(child)
    assert (ci["spi-in"], ci["spi-out"]) == (cr["spi-out"], cr["spi-in"]), (ci, cr)
    a, b = pair.a, pair.b
    a.ns.ping(b.inner4, src=a.inner4, count=2)
    b.ns.ping(a.inner4, src=b.inner4, count=2)
    return ci, cr


def dn_cn(identity: str) -> str:
    """The CN of a DN id (or the id itself): comparisons across charon's and ternd's DN spellings."""
    m = re.search(r"CN=([^,\"]+)", identity)
    return m.group(1).strip() if m else identity.strip('"')
