"""The Debian package: scripts/build-deb.sh --debug builds it (the debug build, relinked with the
Swift runtime built in, so this stays within a few minutes when the debug build exists; the
release package is the same script without --debug). Checked: the files, their modes and owners,
the control fields, that the extracted binaries run without the Swift toolchain, that the man
pages render and name every ternd option and tern command the code has, and lintian."""
import gzip
import os
import re
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def run(argv, timeout=60, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, **kw)


@pytest.fixture(scope="module")
def deb(tmp_path_factory) -> Path:
    for tool in ("dpkg-deb", "dpkg-shlibdeps", "lintian"):
        if run(["sh", "-c", f"command -v {tool}"]).returncode != 0:
            pytest.fail(f"{tool} missing: run scripts/setup.sh (it installs dpkg-dev and lintian)", pytrace=False)
    out = tmp_path_factory.mktemp("deb")
    p = run([str(REPO / "scripts/build-deb.sh"), "--debug", "--no-lintian", "--out", str(out)], timeout=900)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    debs = list(out.glob("tern_*_*.deb"))
    assert len(debs) == 1, debs
    return debs[0]


@pytest.fixture(scope="module")
def tree(deb, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("root")
    subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], check=True)
    return root


def listing(deb) -> dict[str, tuple[str, str]]:
    """path -> (mode string, owner/group) from dpkg-deb -c."""
    out = {}
    for line in run(["dpkg-deb", "-c", str(deb)]).stdout.splitlines():
        parts = line.split()
        path = parts[5].lstrip(".").rstrip("/") or "/"
        out[path] = (parts[0], parts[1])
    return out


def test_contents_and_modes(deb):
    files = listing(deb)
    expect = {
        "/usr/sbin/ternd": "-rwxr-xr-x", "/usr/bin/tern": "-rwxr-xr-x",
        "/lib/systemd/system/ternd.service": "-rw-r--r--",
        "/usr/share/man/man8/ternd.8.gz": "-rw-r--r--", "/usr/share/man/man8/tern.8.gz": "-rw-r--r--",
        "/usr/share/man/man5/tern-swanctl.conf.5.gz": "-rw-r--r--",
        "/usr/share/bash-completion/completions/tern": "-rw-r--r--",
        "/usr/share/zsh/vendor-completions/_tern": "-rw-r--r--",
        "/usr/share/doc/tern/copyright": "-rw-r--r--", "/usr/share/doc/tern/changelog.gz": "-rw-r--r--",
        "/usr/share/tern/swanctl.conf": "-rw-r--r--",
        "/etc/swanctl/x509": "drwxr-xr-x", "/etc/swanctl/x509ca": "drwxr-xr-x", "/etc/swanctl/x509crl": "drwxr-xr-x",
        "/etc/swanctl/conf.d": "drwxr-xr-x",
        "/etc/swanctl/private": "drwx------", "/etc/swanctl/rsa": "drwx------", "/etc/swanctl/ecdsa": "drwx------",
        "/etc/swanctl/pkcs8": "drwx------", "/etc/swanctl/pkcs12": "drwx------",
    }
    for path, mode in expect.items():
        assert path in files, (path, sorted(files))
        assert files[path][0] == mode, (path, files[path])
    assert all(owner == "root/root" for _, owner in files.values()), files
    # swanctl.conf is strongSwan's swanctl package's file: the postinst creates ours when absent.
    assert "/etc/swanctl/swanctl.conf" not in files


def test_control_and_maintainer_scripts(deb):
    info = run(["dpkg-deb", "-f", str(deb)]).stdout
    fields = dict(re.findall(r"^([A-Za-z-]+): (.*)$", info, re.M))
    version = re.search(r'public let ternVersion = "(.*)"', (REPO / "Sources/TernDaemon/Daemon.swift").read_text()).group(1)
    assert fields["Package"] == "tern" and fields["Version"] == version, fields
    assert "libc6" in fields["Depends"] and "libssl3" in fields["Depends"], fields
    assert "swift" not in fields["Depends"].lower(), fields
    ctrl = run(["sh", "-c", f"dpkg-deb --ctrl-tarfile {deb} | tar -tf -"]).stdout.split()
    assert "./postinst" in ctrl and "./md5sums" in ctrl, ctrl


def test_binaries_run_without_the_toolchain(tree):
    for b in ("usr/sbin/ternd", "usr/bin/tern"):
        ldd = run(["ldd", str(tree / b)]).stdout
        assert "swift" not in ldd and "/opt/" not in ldd, ldd
    env = dict(os.environ, LD_LIBRARY_PATH="", PATH="/usr/bin:/bin")
    assert "USAGE: ternd" in run([str(tree / "usr/sbin/ternd"), "--help"], env=env).stdout
    assert "import" in run([str(tree / "usr/bin/tern"), "--help"], env=env).stdout
    fixture = REPO / "Tests/TernConfigTests/Fixtures/libreswan"
    p = run([str(tree / "usr/bin/tern"), "import", str(fixture / "seed001-site-to-site.conf"),
             "--secrets", str(fixture / "seed001-site-b.secrets")], env=env)
    assert p.returncode == 0 and "proposals = aes256-sha256-modp2048" in p.stdout, p.stderr
    unit = (tree / "lib/systemd/system/ternd.service").read_text()
    assert "ExecStart=/usr/sbin/ternd --conf /etc/swanctl/swanctl.conf" in unit, unit
    assert "NoNewPrivileges=yes" in unit and "ProtectSystem=strict" in unit, unit
    bash = (tree / "usr/share/bash-completion/completions/tern").read_text()
    assert not bash.startswith("#!") and "import" in bash and "list-sas" in bash
    assert "#compdef tern" in (tree / "usr/share/zsh/vendor-completions/_tern").read_text()


def test_man_pages_render_and_match_the_code(tree):
    pages = {p.name: p for p in (tree / "usr/share/man").glob("man*/*.gz")}
    assert set(pages) == {"ternd.8.gz", "tern.8.gz", "tern-swanctl.conf.5.gz"}, pages
    for name, page in pages.items():
        p = run(["man", "--warnings", "-l", str(page)], env=dict(os.environ, MANWIDTH="80"))
        assert p.returncode == 0 and not p.stderr.strip(), (name, p.stderr)
    text = {n: gzip.decompress(p.read_bytes()).decode().replace("\\-", "-") for n, p in pages.items()}
    # Every ternd option the code has is in ternd(8).
    ternd_help = run([str(tree / "usr/sbin/ternd"), "--help"]).stdout
    options = set(re.findall(r"^\s+(--[a-z0-9-]+)", ternd_help, re.M)) - {"--help"}
    assert options, ternd_help
    missing = sorted(o for o in options if o not in text["ternd.8.gz"])
    assert not missing, missing
    # Every tern command is in tern(8).
    tern_help = run([str(tree / "usr/bin/tern"), "--help"]).stdout
    commands = re.findall(r"^  ([a-z][a-z-]+)\s", tern_help.split("SUBCOMMANDS:")[1], re.M)
    assert "import" in commands and "list-sas" in commands, commands
    missing = sorted(c for c in commands if c not in text["tern.8.gz"])
    assert not missing, missing


def test_lintian_reports_no_errors(deb):
    p = run(["lintian", "--fail-on", "error", str(deb)], timeout=300)
    print(p.stdout)
    errors = [l for l in p.stdout.splitlines() if l.startswith("E:")]
    assert p.returncode == 0 and not errors, p.stdout + p.stderr
