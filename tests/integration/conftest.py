"""Fixtures for Tern's namespace integration tests.

- `harness`: per-test owner of namespaces and processes; torn down by a finalizer even on failure.
- `pair`: two hosts A and B joined by a veth (see netns.make_pair for the addresses).
- `tern_bins`: ternd/tern from $TERN_BIN_DIR (default .build/debug); fails clearly if missing.
- `start_tern`: writes both setkey files (0600) and starts one ternd per host, waiting for readiness.
- `start_charon`: start(ns, swanctl_conf, **kw) -> strongswan.Charon (stopped by the harness).
- `nat`: three hosts, the left one behind a masquerading router (see nat.make_nat).

When a test fails, the stdout/stderr of every process it started (ternd first) is attached to
its report.
"""
from __future__ import annotations

import os
import shutil

import pytest

import netns
from netns import Harness, make_pair, tern_bin_dir

DEFAULT_TIMEOUT = int(os.environ.get("TERN_TEST_TIMEOUT", "180"))


def pytest_configure(config):
    config.addinivalue_line("markers", "needs_ternd: the test runs ternd (fails if it is not built)")


def pytest_collection_modifyitems(config, items):
    if config.pluginmanager.hasplugin("timeout"):
        for item in items:
            if item.get_closest_marker("timeout") is None:
                item.add_marker(pytest.mark.timeout(DEFAULT_TIMEOUT))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if rep.failed:
        h = item.funcargs.get("harness") if hasattr(item, "funcargs") else None
        if isinstance(h, Harness) and h.procs:
            ternds = [p for p in h.procs if isinstance(p, netns.Ternd)]
            others = [p for p in h.procs if not isinstance(p, netns.Ternd)]
            for p in ternds + others:
                try:
                    rep.sections.append((f"{p.label} output", p.describe(tail=200)))
                except Exception as e:  # never hide the real failure
                    rep.sections.append((f"{p.label} output", f"(unreadable: {e})"))
            for p in ternds:
                if p.alive():
                    try:
                        rep.sections.append((f"{p.label} tern state", p.state_text()))
                    except Exception:
                        pass


def pytest_sessionfinish(session, exitstatus):
    netns.cleanup_leftover_namespaces()


@pytest.fixture(scope="session", autouse=True)
def _root_and_tools():
    if os.geteuid() != 0:
        pytest.exit("integration tests need root (network namespaces)", returncode=2)
    missing = [t for t in ("ip", "ping", "tshark") if shutil.which(t) is None]
    if missing:
        pytest.exit(f"missing tools {missing}: run scripts/setup.sh", returncode=2)


@pytest.fixture
def harness(tmp_path, request):
    h = Harness(tmp_path / "artifacts")
    request.addfinalizer(h.close)
    return h


@pytest.fixture
def pair(harness):
    return make_pair(harness)


@pytest.fixture(scope="session")
def tern_bins():
    d = tern_bin_dir()
    for b in ("ternd", "tern"):
        if not (d / b).exists():
            pytest.fail(f"{d / b} not found: build with `swift build` or set TERN_BIN_DIR", pytrace=False)
    return d


@pytest.fixture
def start_tern(harness, tern_bins):
    def start(pair, cfg, *, extra_a=(), extra_b=(), extra=()):
        fa = harness.write_private("a.setkey", cfg.text_a)
        fb = harness.write_private("b.setkey", cfg.text_b)
        ta = harness.ternd(pair.a.ns, [fa], extra=list(extra) + list(extra_a))
        tb = harness.ternd(pair.b.ns, [fb], extra=list(extra) + list(extra_b))
        ta.wait_ready()
        tb.wait_ready()
        return ta, tb
    return start


@pytest.fixture
def start_charon(harness):
    if not os.path.exists("/usr/lib/ipsec/charon") or shutil.which("swanctl") is None:
        pytest.fail("strongSwan (charon, swanctl) not installed: run scripts/setup.sh", pytrace=False)
    import strongswan
    return strongswan.charon_factory(harness)


@pytest.fixture
def nat(harness):
    import nat as nat_topology
    return nat_topology.make_nat(harness)
