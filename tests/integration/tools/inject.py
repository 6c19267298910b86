#!/usr/bin/env python3
"""Sends packets from a pcap (or hex strings) out of an interface, inside a test namespace.

inject.py IFACE FILE.pcap     sends every frame of FILE as-is (Ethernet) with sendp
inject.py --l3 HEX...          sends each hex-encoded IP packet with send (routing by the kernel)
"""
import sys

from scapy.all import IP, IPv6, conf, rdpcap, send, sendp  # noqa: E402

conf.verb = 0


def main():
    if sys.argv[1] == "--l3":
        for h in sys.argv[2:]:
            raw = bytes.fromhex(h)
            pkt = IPv6(raw) if raw[0] >> 4 == 6 else IP(raw)
            send(pkt)
        return
    iface, path = sys.argv[1], sys.argv[2]
    frames = rdpcap(path)
    sendp(frames, iface=iface)
    print(f"sent {len(frames)} frames on {iface}")


if __name__ == "__main__":
    main()
