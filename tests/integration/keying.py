"""Manual-keying configurations (KAME setkey) for two hosts, plus the referees' view of the same keys.

`Suite` names an algorithm set once: how setkey spells it for ternd, how tshark's uat:esp_sa
and scapy's SecurityAssociation spell it, and how long the keys are.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Optional


@dataclass(frozen=True)
class Suite:
    name: str
    proto: str                      # "esp" or "ah"
    enc: Optional[str]              # setkey -E name (None for AH)
    enc_len: int                    # key bytes incl. salt
    auth: Optional[str]             # setkey -A name
    auth_len: int
    tern_enc: str                   # "encryption" in tern state --json
    tshark_enc: Optional[str]       # uat:esp_sa encryption name; None: tshark can't decode it
    tshark_auth: str
    scapy_crypt: Optional[str]
    scapy_auth: Optional[str]


AES_GCM_256 = Suite("aes-gcm-256", "esp", "aes-gcm-16", 36, None, 0, "aes-gcm-16-256",
                    "AES-GCM with 16 octet ICV [RFC4106]", "NULL", "AES-GCM", None)
AES_CBC_SHA256 = Suite("aes-cbc-256+sha256", "esp", "rijndael-cbc", 32, "hmac-sha256", 32, "aes-cbc-256",
                       "AES-CBC [RFC3602]", "HMAC-SHA-256-128 [RFC4868]", "AES-CBC", "SHA2-256-128")
CHACHA20 = Suite("chacha20-poly1305", "esp", "chacha20-poly1305", 36, None, 0, "chacha20-poly1305",
                 None, "NULL", "CHACHA20-POLY1305", None)
NULL_SHA512 = Suite("null+sha512", "esp", "null", 0, "hmac-sha512", 64, "null",
                    "NULL", "HMAC-SHA-512-256 [RFC4868]", "NULL", "SHA2-512-256")
# ENCR_NULL_AUTH_AES_GMAC (RFC 4543). The brief lists it under -A; we spell it "-E null -A aes-gmac KEY".
AES_GMAC_256 = Suite("aes-gmac-256", "esp", "null", 0, "aes-gmac", 36, "aes-gmac-256",
                     None, "NULL", "AES-NULL-GMAC", None)
AH_SHA256 = Suite("ah-sha256", "ah", None, 0, "hmac-sha256", 32, "none",
                  None, "HMAC-SHA-256-128 [RFC4868]", None, "SHA2-256-128")


@dataclass
class SA:
    src: str
    dst: str
    spi: int
    suite: Suite
    mode: str
    enc_key: bytes
    auth_key: bytes
    udp: bool = False
    replay: Optional[int] = None
    esn: bool = False

    @property
    def family(self) -> str:
        return "IPv6" if ":" in self.src else "IPv4"

    def setkey_line(self) -> str:
        proto = self.suite.proto
        src, dst = self.src, self.dst
        if self.udp:
            proto = "esp-udp"
            src, dst = f"{src}[4500]", f"{dst}[4500]"
        parts = [f"add {src} {dst} {proto} {self.spi:#x} -m {self.mode}"]
        if self.replay is not None:
            parts.append(f"-r {self.replay}")
        if self.esn:
            parts.append("-f esn")
        if self.suite.enc is not None:
            parts.append(f"-E {self.suite.enc}" + (f" 0x{self.enc_key.hex()}" if self.suite.enc_len else ""))
        if self.suite.auth is not None:
            parts.append(f"-A {self.suite.auth} 0x{self.auth_key.hex()}")
        return " ".join(parts) + ";"

    def tshark_uat(self, src: Optional[str] = None, dst: Optional[str] = None) -> str:
        s = self.suite
        assert s.tshark_enc is not None, f"tshark cannot decode {s.name}"
        ek = f"0x{self.enc_key.hex()}" if self.enc_key else ""
        ak = f"0x{self.auth_key.hex()}" if self.auth_key else ""
        return (f'uat:esp_sa:"{self.family}","{src or self.src}","{dst or self.dst}","{self.spi:#010x}",'
                f'"{s.tshark_enc}","{ek}","{s.tshark_auth}","{ak}"')

    def scapy_sa(self, seq_num: int = 1):
        """This SA as scapy's SecurityAssociation (the independent ESP/AH implementation)."""
        from scapy.layers.inet import IP, UDP
        from scapy.layers.inet6 import IPv6
        from scapy.layers.ipsec import AH, ESP, SecurityAssociation
        s = self.suite
        kw = {"seq_num": seq_num}
        if s.proto == "esp":
            if s.scapy_crypt == "AES-NULL-GMAC":
                kw.update(crypt_algo="AES-NULL-GMAC", crypt_key=self.auth_key)
            else:
                kw.update(crypt_algo=s.scapy_crypt, crypt_key=self.enc_key or None)
            if s.scapy_auth:
                kw.update(auth_algo=s.scapy_auth, auth_key=self.auth_key)
        else:
            kw.update(auth_algo=s.scapy_auth, auth_key=self.auth_key)
        if self.mode == "tunnel":
            kw["tunnel_header"] = (IPv6 if ":" in self.src else IP)(src=self.src, dst=self.dst)
        if self.udp:
            kw["nat_t_header"] = UDP(sport=4500, dport=4500)
        return SecurityAssociation(ESP if s.proto == "esp" else AH, spi=self.spi, **kw)


def new_sa(src: str, dst: str, spi: int, suite: Suite, mode: str, **kw) -> SA:
    return SA(src, dst, spi, suite, mode, os.urandom(suite.enc_len), os.urandom(suite.auth_len), **kw)


@dataclass
class Config:
    """Both SAs and each host's setkey text (same SAs, mirrored policies)."""
    out_a: SA           # A -> B
    out_b: SA           # B -> A
    text_a: str
    text_b: str


def policy_rule(sa: SA) -> str:
    proto = sa.suite.proto
    if sa.mode == "tunnel":
        return f"{proto}/tunnel/{sa.src}-{sa.dst}/require"
    return f"{proto}/transport//require"


def host_config(mode: str, suite: Suite, *, a_outer: str, b_outer: str, a_sel: str, b_sel: str,
                udp: bool = False, spi_base: int = 0x1000, replay: Optional[int] = None, esn: bool = False,
                proto_sel: str = "any") -> Config:
    """a_sel/b_sel: the selectors (inner subnets for tunnel mode, the outer addresses for transport)."""
    ab = new_sa(a_outer, b_outer, spi_base + 1, suite, mode, udp=udp, replay=replay, esn=esn)
    ba = new_sa(b_outer, a_outer, spi_base + 2, suite, mode, udp=udp, replay=replay, esn=esn)
    sad = f"flush;\nspdflush;\n{ab.setkey_line()}\n{ba.setkey_line()}\n"

    def spd(local_sel, remote_sel, out_sa, in_sa):
        return (f"spdadd {local_sel} {remote_sel} {proto_sel} -P out ipsec {policy_rule(out_sa)};\n"
                f"spdadd {remote_sel} {local_sel} {proto_sel} -P in ipsec {policy_rule(in_sa)};\n")

    text_a = sad + spd(a_sel, b_sel, ab, ba)
    text_b = sad + spd(b_sel, a_sel, ba, ab)
    return Config(ab, ba, text_a, text_b)


def open_with_scapy(sa: SA, outer_pkt):
    """Decrypts/verifies one ESP or AH packet (a scapy IP/IPv6 packet) and returns the inner IP packet.
    Raises if the ICV is wrong."""
    from scapy.layers.inet import IP
    from scapy.layers.inet6 import IPv6
    from scapy.packet import Raw
    clear = sa.scapy_sa().decrypt(outer_pkt)
    if sa.mode == "tunnel" and Raw in clear and not clear.haslayer("ICMP") and not clear.haslayer("TCP"):
        raw = bytes(clear[Raw].load)
        return IPv6(raw) if raw[0] >> 4 == 6 else IP(raw)
    return clear
