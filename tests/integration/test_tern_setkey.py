"""`tern setkey` (issue 16): setkey(8)'s flags against the running ternd, setkey's -D/-DP layout,
errors with file:line, and the seeds' troubleshooting advice (keys out of sync: `setkey -F` on
both sides, then load the keys again)."""
import subprocess

import pytest

import tern_setups
from netns import tern_bin_dir

pytestmark = pytest.mark.needs_ternd


def setkey(t, *args, stdin: str = None, check: bool = True) -> subprocess.CompletedProcess:
    p = subprocess.run([str(tern_bin_dir() / "tern"), "--vici", str(t.sock), "setkey", *args],
                       input=stdin.encode() if stdin is not None else None, capture_output=True, timeout=20)
    if check and p.returncode != 0:
        raise AssertionError(f"tern setkey {' '.join(args)}: exit {p.returncode}\n{p.stderr.decode()}\n{t.describe()}")
    return p


def out(p) -> str:
    return p.stdout.decode()


def test_each_flag_against_ternd(harness, pair, tern_bins):
    cfg = tern_setups.tunnel(pair)
    t = harness.ternd(pair.a.ns, [])
    t.wait_ready()
    assert out(setkey(t, "-D")) == "No SAD entries.\n" and out(setkey(t, "-DP")) == "No SPD entries.\n"
    # -c: statements on stdin, as `setkey -c` reads them.
    assert "4 statements applied" in out(setkey(t, "-c", "-v", stdin=cfg.text_a.replace("flush;\nspdflush;\n", "")))
    dump = out(setkey(t, "-D"))
    assert dump.count("state=mature") == 2 and f"spi={cfg.out_a.spi}(" in dump, dump
    assert f"{cfg.out_a.src} {cfg.out_a.dst}\n\tesp mode=tunnel" in dump, dump
    pols = out(setkey(t, "-DP"))
    assert "\tout prio def ipsec\n" in pols and f"esp/tunnel/{cfg.out_a.src}-{cfg.out_a.dst}/require" in pols, pols
    # A bad statement changes nothing and is named by line.
    bad = setkey(t, "-c", stdin="spdflush;\nadd 192.0.2.1 192.0.2.2 esp 0x2000 -E aes-gcm-16 0x01;\n", check=False)
    assert bad.returncode != 0 and "<stdin>:2:" in bad.stderr.decode(), bad.stderr.decode()
    assert out(setkey(t, "-DP")) == pols, "a refused -c must change nothing"
    # -FP, -F.
    setkey(t, "-FP")
    assert out(setkey(t, "-DP")) == "No SPD entries.\n"
    setkey(t, "-F")
    assert out(setkey(t, "-D")) == "No SAD entries.\n"
    # -f FILE: with keys, the file must not be readable by others (as ternd's own --setkey files).
    loose = harness.write_private("loose.setkey", cfg.text_a, mode=0o644)
    refused = setkey(t, "-f", str(loose), check=False)
    assert refused.returncode != 0 and "chmod 600" in refused.stderr.decode(), refused.stderr.decode()
    tight = harness.write_private("tight.setkey", cfg.text_a)
    setkey(t, "-f", str(tight))
    assert out(setkey(t, "-D")).count("state=mature") == 2
    # Flags that make no sense together are refused before anything is sent.
    assert setkey(t, "-D", "-F", check=False).returncode != 0
    assert t.alive()


def test_keys_out_of_sync_recovered_with_flush_on_both_sides(harness, pair, tern_bins):
    """The seeds' advice: when the two sides' keys disagree, `setkey -F` on both and load the
    keys again."""
    a, b = pair.a, pair.b
    good = tern_setups.tunnel(pair)
    stale = tern_setups.tunnel(pair)          # same SPIs, other keys: B's keys are out of sync
    ta = harness.ternd(a.ns, [harness.write_private("a.setkey", good.text_a)])
    tb = harness.ternd(b.ns, [harness.write_private("b.setkey", stale.text_b)])
    ta.wait_ready(); tb.wait_ready()
    assert a.ns.ping(b.inner4, src=a.inner4, count=2, check=False).returncode != 0, "keys out of sync, yet ping worked"
    for t in (ta, tb):
        setkey(t, "-F")
        setkey(t, "-FP")
    fa = harness.write_private("a-again.setkey", good.text_a)
    fb = harness.write_private("b-again.setkey", good.text_b)
    setkey(ta, "-f", str(fa))
    setkey(tb, "-f", str(fb))
    a.ns.ping(b.inner4, src=a.inner4, count=3)
    b.ns.ping(a.inner4, src=b.inner4, count=3)
