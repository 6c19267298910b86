"""ternd refuses bad configurations with messages that say where and how to fix them."""
import re

import pytest

import tern_setups
from netns import HarnessError

pytestmark = pytest.mark.needs_ternd


def _run_ternd_expect_exit(harness, ns, path):
    t = harness.ternd(ns, [path], label="ternd-bad")
    try:
        rc = t.wait(timeout=20)
    except HarnessError:
        pytest.fail(f"ternd kept running with a bad configuration\n{t.describe()}")
    assert rc != 0, t.describe()
    return t.stderr() + t.stdout()


def test_world_readable_key_file_is_refused(harness, pair, tern_bins):
    cfg = tern_setups.tunnel(pair)
    path = harness.write_private("keys-0644.setkey", cfg.text_a, mode=0o644)
    msg = _run_ternd_expect_exit(harness, pair.a.ns, path)
    assert str(path) in msg, msg
    assert re.search(r"chmod 0?600", msg), msg
    # It did not leave a TUN behind.
    assert "tern0" not in pair.a.ns.ip("link").stdout.decode()


def test_syntax_error_reports_file_line_column(harness, pair, tern_bins):
    text = ("# a comment on line 1\n"
            "flush;\n"
            "spdadd 203.0.113.0/24 198.51.100.0/24 any -P sideways ipsec esp/tunnel/192.0.2.1-192.0.2.2/require;\n")
    path = harness.write_private("syntax.setkey", text)
    msg = _run_ternd_expect_exit(harness, pair.a.ns, path)
    assert re.search(re.escape(str(path)) + r":3:\d+", msg), msg
