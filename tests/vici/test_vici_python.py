"""Interop: strongSwan's own Python client (PyPI `vici`) against Tern's VICI server.

Needs a running server that offers the commands of the Swift test
`VICIInteropTests.strongSwanClients` (Tests/TernVICITests/VICIInteropTests.swift), which
starts one on a temporary socket and runs this file as a script:

    python3 tests/vici/test_vici_python.py /path/to/socket

Under pytest, point TERN_VICI_SOCKET at such a server; without it the tests skip.
"""
import os
import socket
import sys
import threading

import vici
from vici.exception import CommandException, EventUnknownException, SessionException

try:
    import pytest
except ImportError:  # run as a script without pytest
    pytest = None

SOCKET = os.environ.get("TERN_VICI_SOCKET")


def session():
    if SOCKET is None:
        pytest.skip("TERN_VICI_SOCKET not set")
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(10)
    s.connect(SOCKET)
    return vici.Session(sock=s)


def test_version():
    v = session().version()
    assert v["daemon"] == b"ternd-test", v


def test_nested_message_round_trip():
    request = {"key1": "value1", "section1": {"sub-section": {"key2": "value2"}, "list1": ["item1", "item2"]},
               "empty": "", "empty-list": []}
    response = session().request("echo", request)
    assert response["key1"] == b"value1"
    assert response["section1"]["sub-section"]["key2"] == b"value2"
    assert response["section1"]["list1"] == [b"item1", b"item2"]
    assert response["empty"] == b""
    assert response["empty-list"] == []


def test_streamed_request():
    sas = list(session().list_sas())
    assert [list(sa.keys()) for sa in sas] == [["sa-0"], ["sa-1"], ["sa-2"]], sas
    assert sas[1]["sa-1"]["child-sas"]["net-1"]["state"] == b"INSTALLED"


def test_unknown_command():
    s = session()
    try:
        s.request("no-such-command")
    except SessionException as e:
        assert "2" in str(e), e  # CMD_UNKNOWN = 2
    else:
        raise AssertionError("unknown command accepted")
    assert s.version()["daemon"] == b"ternd-test"


def test_failed_command():
    try:
        session().request("fail")
    except CommandException as e:
        assert "deliberate" in str(e), e
    else:
        raise AssertionError("failure not reported")


def test_unknown_event():
    try:
        next(session().listen(["no-such-event"]))
    except EventUnknownException:
        pass
    else:
        raise AssertionError("unknown event accepted")


def test_listen():
    listener = session()
    stop = threading.Event()

    def trigger():
        other = session()
        while not stop.is_set():
            other.request("publish-updown")
            stop.wait(0.02)

    t = threading.Thread(target=trigger)
    t.start()
    try:
        for name, message in listener.listen(["ike-updown"], timeout=5):
            assert name == b"ike-updown", name
            assert message["up"] == b"yes", message
            break
    finally:
        stop.set()
        t.join()


if __name__ == "__main__":
    SOCKET = sys.argv[1]
    for name, test in list(globals().items()):
        if name.startswith("test_") and callable(test):
            test()
            print("ok", name)
