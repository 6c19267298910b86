"""ternd's process contract: routes and rule while running, SIGHUP reload, clean SIGTERM."""
import signal

import pytest

import keying
import tern_setups
from checks import assert_flow

pytestmark = pytest.mark.needs_ternd


def test_routes_reload_and_clean_shutdown(harness, pair, start_tern):
    cfg = tern_setups.tunnel(pair)
    ta, tb = start_tern(pair, cfg)
    ns = pair.a.ns
    rules = ns.ip("rule", "show").stdout.decode()
    assert any(l.startswith("220:") and "fwmark 0x7e41" in l and "lookup 220" in l for l in rules.splitlines()), rules
    routes = ns.ip("route", "show", "table", "220").stdout.decode()
    assert "198.51.100.0/24" in routes and "tern0" in routes, routes
    link = ns.ip("link", "show", "tern0").stdout.decode()
    assert "qlen 4096" in link, link   # Linux's default 500 drops TCP bursts before ternd reads them

    pair.a.ns.ping(pair.b.inner4, src=pair.a.inner4, count=3)
    assert_flow(ta, tb, cfg, 3)
    sealed = ta.sa(ta.state(), cfg.out_a.spi)["packets"]

    # SIGHUP: add one SA to A's file; the unchanged SA keeps its counters.
    extra = keying.new_sa(pair.a.outer4, pair.b.outer4, 0x1FF, keying.AES_GCM_256, "tunnel")
    harness.write_private("a.setkey", cfg.text_a + extra.setkey_line() + "\n")
    ta.send_signal(signal.SIGHUP)
    st = ta.wait_state(lambda st: any(s["spi"] == 0x1FF for s in st["sas"]), what="SA 0x1ff after SIGHUP")
    assert ta.sa(st, cfg.out_a.spi)["packets"] == sealed
    assert ta.alive()

    # SIGTERM: exit 0, TUN, rule and routes gone.
    rc = ta.stop(signal.SIGTERM, timeout=15)
    assert rc == 0, ta.describe()
    assert "tern0" not in ns.ip("link").stdout.decode()
    assert not any(l.startswith("220:") for l in ns.ip("rule", "show").stdout.decode().splitlines())
    assert ns.ip("route", "show", "table", "220", check=False).stdout.decode().strip() == ""


def test_strongswan_clients_reach_the_control_socket(pair, start_tern):
    """strongSwan's own swanctl and the PyPI vici package speak to ternd's VICI socket."""
    import socket

    import vici

    from netns import run

    cfg = tern_setups.tunnel(pair)
    ta, _ = start_tern(pair, cfg)
    out = run(["swanctl", "--version", "--daemon", "--uri", f"unix://{ta.sock}"]).stdout.decode()
    assert "ternd" in out and "Linux" in out, out
    s = socket.socket(socket.AF_UNIX)
    try:
        s.connect(str(ta.sock))
        version = vici.Session(s).version()
    finally:
        s.close()
    assert version["daemon"] == b"ternd", version
    assert version["machine"] and version["release"], version
