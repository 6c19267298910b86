"""IKEv2 key logs and tshark as the referee for encrypted IKE messages.

Key log format (JSON lines, one IKE SA per line; written by test peers, read here):

    {"ispi": "hex16", "rspi": "hex16", "sk_ei": "hex", "sk_er": "hex", "sk_ai": "hex", "sk_ar": "hex",
     "encr": "AES-GCM-256 with 16 octet ICV [RFC5282]", "integ": "NONE [RFC4306]"}

`encr`/`integ` are tshark's own names (ENCR_NAMES/INTEG_NAMES below); for AEAD ciphers sk_ei/sk_er
include the 4-byte salt and sk_ai/sk_ar are "" with integ "NONE [RFC4306]".

    prefs = tshark_prefs(entries)          # ['uat:ikev2_decryption_table:...', ...] for tshark -o
    packets = decrypt_ike(pcap, entries)   # [IkePacket(frame, exchange, payloads, icv_ok, ...)]
    entries = charon_keys(charon.log(), charon.list_sas())   # strongSwan at `ike 4`

tshark 4.0 cannot decrypt ChaCha20-Poly1305 IKE; there is no name for it below.
"""
from __future__ import annotations

import json
import re
import subprocess
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Optional

# The strings tshark 4.0's ikev2_decryption_table accepts (vs_ikev2_encr_algs / vs_ikev2_auth_algs in
# packet-isakmp.c), keyed by strongSwan's proposal names (as in "selected proposal: IKE:...").
ENCR_NAMES = {
    "3DES_CBC": "3DES [RFC2451]",
    "AES_CBC_128": "AES-CBC-128 [RFC3602]",
    "AES_CBC_192": "AES-CBC-192 [RFC3602]",
    "AES_CBC_256": "AES-CBC-256 [RFC3602]",
    "NULL": "NULL [RFC2410]",
    "AES_CTR_128": "AES-CTR-128 [RFC5930]",
    "AES_CTR_192": "AES-CTR-192 [RFC5930]",
    "AES_CTR_256": "AES-CTR-256 [RFC5930]",
    **{f"AES_GCM_{icv}_{bits}": f"AES-GCM-{bits} with {icv} octet ICV [RFC5282]"
       for icv in (8, 12, 16) for bits in (128, 192, 256)},
    **{f"AES_CCM_{icv}_{bits}": f"AES-CCM-{bits} with {icv} octet ICV [RFC5282]"
       for icv in (8, 12, 16) for bits in (128, 192, 256)},
}
INTEG_NAMES = {
    "HMAC_MD5_96": "HMAC_MD5_96 [RFC2403]",
    "HMAC_SHA1_96": "HMAC_SHA1_96 [RFC2404]",
    "HMAC_MD5_128": "HMAC_MD5_128 [RFC4595]",
    "HMAC_SHA1_160": "HMAC_SHA1_160 [RFC4595]",
    "HMAC_SHA2_256_96": "HMAC_SHA2_256_96 [draft-ietf-ipsec-ciph-sha-256-00]",
    "HMAC_SHA2_256_128": "HMAC_SHA2_256_128 [RFC4868]",
    "HMAC_SHA2_384_192": "HMAC_SHA2_384_192 [RFC4868]",
    "HMAC_SHA2_512_256": "HMAC_SHA2_512_256 [RFC4868]",
    "NONE": "NONE [RFC4306]",
}
AEAD_PREFIXES = ("AES_GCM_", "AES_CCM_")

# IKEv2 payload type numbers (RFC 7296 3.2) for readable assertions.
PAYLOAD = {"SA": 33, "KE": 34, "IDi": 35, "IDr": 36, "CERT": 37, "CERTREQ": 38, "AUTH": 39, "Nonce": 40,
           "N": 41, "D": 42, "V": 43, "TSi": 44, "TSr": 45, "SK": 46, "CP": 47, "EAP": 48, "SKF": 53}
EXCHANGE = {34: "IKE_SA_INIT", 35: "IKE_AUTH", 36: "CREATE_CHILD_SA", 37: "INFORMATIONAL"}

_HEX = re.compile(r"^[0-9a-f]*$")


class KeylogError(ValueError):
    pass


def validate(entry: dict) -> dict:
    """Checks one key log entry; returns it with hex in lower case."""
    e = dict(entry)
    for k in ("ispi", "rspi", "sk_ei", "sk_er", "sk_ai", "sk_ar", "encr", "integ"):
        if k not in e or not isinstance(e[k], str):
            raise KeylogError(f"key log entry lacks string field {k!r}: {sorted(entry)}")
    for k in ("ispi", "rspi", "sk_ei", "sk_er", "sk_ai", "sk_ar"):
        e[k] = e[k].lower()
        if not _HEX.match(e[k]) or len(e[k]) % 2:
            raise KeylogError(f"{k} is not hex: {e[k]!r}")
    for k in ("ispi", "rspi"):
        if len(e[k]) != 16:
            raise KeylogError(f"{k} must be 8 bytes (16 hex digits), got {len(e[k])} digits")
    if e["encr"] not in ENCR_NAMES.values():
        raise KeylogError(f"encr {e['encr']!r} is not a name tshark 4.0 knows; one of {sorted(ENCR_NAMES.values())}")
    if e["integ"] not in INTEG_NAMES.values():
        raise KeylogError(f"integ {e['integ']!r} is not a name tshark 4.0 knows; one of {sorted(INTEG_NAMES.values())}")
    if not e["sk_ei"] or not e["sk_er"]:
        raise KeylogError("sk_ei and sk_er must not be empty")
    return e


def read_keylog(path: Path) -> list[dict]:
    entries = []
    for n, line in enumerate(Path(path).read_text().splitlines(), 1):
        if line.strip():
            try:
                entries.append(validate(json.loads(line)))
            except (json.JSONDecodeError, KeylogError) as err:
                raise KeylogError(f"{path}:{n}: {err}") from None
    return entries


def write_keylog(path: Path, entries: Iterable[dict]):
    with open(path, "w") as f:
        for e in entries:
            f.write(json.dumps(validate(e)) + "\n")


def uat_row(entry: dict) -> str:
    """ISPI,RSPI,SK_ei,SK_er,"encr",SK_ai,SK_ar,"integ": bare hex, quoted algorithm names."""
    e = validate(entry)
    return ",".join([e["ispi"], e["rspi"], e["sk_ei"], e["sk_er"], f'"{e["encr"]}"', e["sk_ai"], e["sk_ar"],
                     f'"{e["integ"]}"'])


def tshark_prefs(entries: Iterable[dict]) -> list[str]:
    """One `uat:ikev2_decryption_table:...` preference per IKE SA (pass each with -o)."""
    return [f"uat:ikev2_decryption_table:{uat_row(e)}" for e in entries]


def tshark_options(entries: Iterable[dict]) -> list[str]:
    return [arg for p in tshark_prefs(entries) for arg in ("-o", p)]


# ---- tshark over a capture --------------------------------------------------------------------

@dataclass
class IkePacket:
    frame: int
    ispi: str
    rspi: str
    exchange: int
    message_id: int
    response: bool
    from_initiator: bool
    payloads: list[int]                  # top level; for SK messages the decrypted inner payloads
    encrypted: bool
    decrypted: bool = False
    icv_ok: Optional[bool] = None        # None: not encrypted or not checked
    notify_types: list[int] = field(default_factory=list)

    @property
    def exchange_name(self) -> str:
        return EXCHANGE.get(self.exchange, str(self.exchange))


def _children(elem: ET.Element, name: str) -> list[ET.Element]:
    return [c for c in elem if c.get("name") == name]


def decrypt_ike(pcap: Path, entries: Iterable[dict], *, display_filter: str = "isakmp",
                extra_prefs: Iterable[str] = ()) -> list[IkePacket]:
    """Runs tshark with the keys over pcap; one IkePacket per IKE message (UDP 500 and 4500)."""
    argv = ["tshark", "-n", "-r", str(pcap), "-T", "pdml", "-Y", display_filter]
    for p in list(tshark_prefs(entries)) + list(extra_prefs):
        argv += ["-o", p]
    p = subprocess.run(argv, capture_output=True, timeout=60)
    if p.returncode != 0:
        raise KeylogError(f"tshark failed ({p.returncode}): {' '.join(argv)}\n{p.stderr.decode(errors='replace')}")
    root = ET.fromstring(p.stdout)
    packets = []
    for pkt in root.iter("packet"):
        frame = 0
        for proto in pkt.iter("proto"):
            if proto.get("name") == "frame":
                frame = int(next((f.get("show") for f in proto if f.get("name") == "frame.number"), "0"))
        for proto in pkt.iter("proto"):
            if proto.get("name") == "isakmp":
                packets.append(_parse_isakmp(frame, proto))
    return packets


def _parse_isakmp(frame: int, proto: ET.Element) -> IkePacket:
    def show(name: str, default: str = "") -> str:
        f = _children(proto, name)
        return f[0].get("show", default) if f else default
    flags = _children(proto, "isakmp.flags")
    flag = {c.get("name"): c.get("show") for c in (flags[0] if flags else [])}
    pkt = IkePacket(frame=frame, ispi=(_children(proto, "isakmp.ispi") or [ET.Element("x")])[0].get("value", ""),
                    rspi=(_children(proto, "isakmp.rspi") or [ET.Element("x")])[0].get("value", ""),
                    exchange=int(show("isakmp.exchangetype", "0")), message_id=int(show("isakmp.messageid", "0"), 16),
                    response=flag.get("isakmp.flag_r") == "1", from_initiator=flag.get("isakmp.flag_i") == "1",
                    payloads=[], encrypted=False)
    for payload in _children(proto, "isakmp.typepayload"):
        ptype = int(payload.get("show", "0"))
        if ptype in (PAYLOAD["SK"], PAYLOAD["SKF"]):
            pkt.encrypted = True
            dec = _children(payload, "isakmp.enc.decrypted")
            if dec:
                pkt.decrypted = True
                for contained in _children(dec[0], "isakmp.enc.contained"):
                    for inner in _children(contained, "isakmp.typepayload"):
                        pkt.payloads.append(int(inner.get("show", "0")))
                        pkt.notify_types += _notify_types(inner)
            icd = _children(payload, "isakmp.enc.icd")
            if icd:
                text = icd[0].get("showname", "")
                pkt.icv_ok = True if "[correct]" in text else False if "[incorrect" in text else None
        else:
            pkt.payloads.append(ptype)
            pkt.notify_types += _notify_types(payload)
    return pkt


def _notify_types(payload: ET.Element) -> list[int]:
    return [int(f.get("show", "0")) for f in payload.iter("field")
            if f.get("name") == "isakmp.notify.msgtype" and f.get("show", "").isdigit()]


# ---- strongSwan's charon.log at `ike 4` -------------------------------------------------------

# "12:00:00 01[IKE] <conn|3> Sk_ei secret => 36 bytes @ 0x7f..." then hex dump lines
# "12:00:00 01[IKE] <conn|3>    0: 39 FC ...  ascii". Unnamed SAs (responder before the config
# is chosen) show "<3>". Lines of other SAs may interleave; the <...|id> prefix keeps them apart.
_LINE = re.compile(r"^\S+ \d+\[(\w+)\] <(?:[^|>]*\|)?(\d+)> (.*)$")
_KEY_HEAD = re.compile(r"^(Sk_ei|Sk_er|Sk_ai|Sk_ar|natd_chunk) (?:secret )?=> (\d+) bytes @ 0x[0-9a-f]+$")
_DUMP = re.compile(r"^\s*(\d+): ((?:[0-9A-F]{2} ?){1,16})")
_PROPOSAL = re.compile(r"selected proposal: IKE:([A-Z0-9_]+)(?:/([A-Z0-9_]+))?")


def charon_keys(log_text: str, sas: Optional[list[dict]] = None) -> list[dict]:
    """Key log entries for the IKE SAs whose keys charon logged (`ike 4`), SPIs taken from
    `sas` (Charon.list_sas()) by unique id, else from the NAT-D input charon logs with both SPIs.
    IKE SAs made by an IKE rekey are logged under the old SA's id and are not supported."""
    per_sa: dict[str, dict] = {}
    pending: dict[str, tuple[str, int, bytearray]] = {}   # id -> (what, length, bytes so far)
    for line in log_text.splitlines():
        m = _LINE.match(line)
        if not m:
            continue
        sa_id, msg = m.group(2), m.group(3)
        info = per_sa.setdefault(sa_id, {})
        if sa_id in pending:
            what, length, buf = pending[sa_id]
            d = _DUMP.match(msg)
            if d and int(d.group(1)) == len(buf):
                buf += bytes.fromhex(d.group(2))
                if len(buf) >= length:
                    del pending[sa_id]
                    _store(info, what, bytes(buf[:length]))
                continue
            del pending[sa_id]   # dump ended early: drop the partial value
        h = _KEY_HEAD.match(msg)
        if h:
            pending[sa_id] = (h.group(1), int(h.group(2)), bytearray())
            continue
        p = _PROPOSAL.search(msg)
        if p and "encr" not in info:
            info["encr_ss"] = p.group(1)
            parts = msg.split("IKE:", 1)[1].split("/")
            info["integ_ss"] = next((x for x in parts[1:] if x.startswith("HMAC_")), "NONE")
    by_uid = {sa.get("uniqueid"): sa for sa in (sas or [])}
    entries = []
    for sa_id, info in sorted(per_sa.items(), key=lambda kv: int(kv[0])):
        if "sk_ei" not in info:
            continue
        sa = by_uid.get(sa_id)
        if sa is not None:
            ispi, rspi = sa["initiator-spi"], sa["responder-spi"]
        elif "spis" in info:
            ispi, rspi = info["spis"]
        else:
            continue
        encr_ss = info.get("encr_ss")
        if encr_ss not in ENCR_NAMES:
            raise KeylogError(f"IKE SA {sa_id}: tshark cannot decrypt {encr_ss}")
        integ_ss = "NONE" if encr_ss.startswith(AEAD_PREFIXES) else info.get("integ_ss", "NONE")
        entries.append(validate({"ispi": ispi, "rspi": rspi, "sk_ei": info["sk_ei"], "sk_er": info["sk_er"],
                                 "sk_ai": info.get("sk_ai", ""), "sk_ar": info.get("sk_ar", ""),
                                 "encr": ENCR_NAMES[encr_ss], "integ": INTEG_NAMES[integ_ss]}))
    return entries


def _store(info: dict, what: str, value: bytes):
    if what == "natd_chunk":
        # SPIi | SPIr | address | port; only the responder SPI tells it is the full pair.
        if len(value) >= 16 and any(value[8:16]) and "spis" not in info:
            info["spis"] = (value[:8].hex(), value[8:16].hex())
    else:
        info[what.lower()] = value.hex()
