#!/usr/bin/env python3
"""TCP bulk transfer with an end-to-end SHA-256 check (used inside test namespaces).

server ADDR PORT: accepts one connection, hashes everything until EOF, sends back the hex digest
                  and the byte count, exits 0. Prints "listening" once the socket listens.
client ADDR PORT --bind SRC --bytes N --seed S: sends N bytes of seeded pseudo-random data,
                  half-closes, compares the server's digest with its own; prints "ok sha256=… bytes=N".
"""
import argparse
import hashlib
import random
import socket
import sys


def family(addr):
    return socket.AF_INET6 if ":" in addr else socket.AF_INET


def server(a):
    s = socket.socket(family(a.addr), socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((a.addr, a.port))
    s.listen(1)
    s.settimeout(a.timeout)
    print("listening", flush=True)
    c, peer = s.accept()
    c.settimeout(a.timeout)
    h, n = hashlib.sha256(), 0
    while True:
        b = c.recv(1 << 16)
        if not b:
            break
        h.update(b)
        n += len(b)
    c.sendall(f"{h.hexdigest()} {n}\n".encode())
    c.close()
    print(f"received {n} bytes from {peer[0]}", flush=True)


def client(a):
    rng = random.Random(a.seed)
    c = socket.socket(family(a.addr), socket.SOCK_STREAM)
    c.settimeout(a.timeout)
    if a.bind:
        c.bind((a.bind, 0))
    c.connect((a.addr, a.port))
    h, left = hashlib.sha256(), a.bytes
    while left:
        n = min(left, 1 << 16)
        chunk = rng.randbytes(n)
        h.update(chunk)
        c.sendall(chunk)
        left -= n
    c.shutdown(socket.SHUT_WR)
    reply = b""
    while not reply.endswith(b"\n"):
        b = c.recv(256)
        if not b:
            break
        reply += b
    digest, _, count = reply.decode().strip().partition(" ")
    if digest != h.hexdigest() or int(count or -1) != a.bytes:
        print(f"MISMATCH: sent {a.bytes} bytes sha256={h.hexdigest()}, server got {count} sha256={digest}")
        sys.exit(1)
    print(f"ok sha256={digest} bytes={a.bytes}")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("role", choices=["server", "client"])
    p.add_argument("addr")
    p.add_argument("port", type=int)
    p.add_argument("--bind")
    p.add_argument("--bytes", type=int, default=1 << 20)
    p.add_argument("--seed", default="tern")
    p.add_argument("--timeout", type=float, default=60)
    a = p.parse_args()
    server(a) if a.role == "server" else client(a)


if __name__ == "__main__":
    main()
