#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""An independent EIF reader and writer for tests/it_eif.sh: Python's hashlib, zlib and
(when present) cryptography, written from the format's description (NSM-FACTS section 12),
sharing no code with libnsmeif.

  it_eif_check.py pcrs FILE              the image's PCRs as JSON, walked in file order
  it_eif_check.py layout FILE            "type offset size" of each section's data
  it_eif_check.py make FILE [--sign KEY CERT]   a hand-assembled image (random contents)
  it_eif_check.py verify FILE            checks the COSE_Sign1 with the certificate's key
"""
import hashlib
import json
import os
import struct
import sys
import zlib

HEADER = 548


def extend(digest):
    return hashlib.sha384(b"\0" * 48 + digest).hexdigest()


def sections(data):
    if data[:4] != b".eif":
        raise SystemExit("not an EIF")
    pos, out = HEADER, []
    while pos < len(data):
        kind, _flags, size = struct.unpack(">HHQ", data[pos:pos + 12])
        out.append((kind, pos + 12, size))
        pos += 12 + size
    return out


def cbor(data, pos=0):
    """A minimal CBOR decoder: unsigned ints, byte/text strings, arrays, maps, tags."""
    ib = data[pos]
    major, info = ib >> 5, ib & 31
    pos += 1
    if info < 24:
        arg = info
    else:
        width = {24: 1, 25: 2, 26: 4, 27: 8}[info]
        arg = int.from_bytes(data[pos:pos + width], "big")
        pos += width
    if major == 0:
        return arg, pos
    if major in (2, 3):
        raw = data[pos:pos + arg]
        return (raw if major == 2 else raw.decode()), pos + arg
    if major == 4:
        items = []
        for _ in range(arg):
            item, pos = cbor(data, pos)
            items.append(item)
        return items, pos
    if major == 5:
        pairs = []
        for _ in range(arg):
            k, pos = cbor(data, pos)
            v, pos = cbor(data, pos)
            pairs.append((k, v))
        return dict(pairs), pos
    if major == 6:
        return cbor(data, pos)
    raise ValueError("unsupported CBOR major type %d" % major)


def signature_parts(data):
    for kind, off, size in sections(data):
        if kind == 4:
            sig, _ = cbor(data[off:off + size])
            return bytes(sig[0]["signing_certificate"]), bytes(sig[0]["signature"])
    return None, None


def cert_der(pem):
    body = pem.decode().split("-----BEGIN CERTIFICATE-----")[1].split("-----END")[0]
    import base64
    return base64.b64decode("".join(body.split()))


def pcrs(path):
    data = open(path, "rb").read()
    h0, h1, h2 = hashlib.sha384(), hashlib.sha384(), hashlib.sha384()
    ramdisks = 0
    for kind, off, size in sections(data):
        chunk = data[off:off + size]
        if kind in (1, 2):
            h0.update(chunk)
            h1.update(chunk)
        elif kind == 3:
            h0.update(chunk)
            (h1 if ramdisks == 0 else h2).update(chunk)
            ramdisks += 1
    out = {"PCR0": extend(h0.digest()), "PCR1": extend(h1.digest()), "PCR2": extend(h2.digest())}
    pem, _ = signature_parts(data)
    if pem:
        out["PCR8"] = extend(hashlib.sha384(cert_der(pem)).digest())
    out["CRC"] = zlib.crc32(data[:HEADER - 4] + data[HEADER:]) == struct.unpack(">I", data[544:548])[0]
    print(json.dumps(out, sort_keys=True))


def layout(path):
    for kind, off, size in sections(open(path, "rb").read()):
        print(kind, off, size)


def head(major, n):
    if n < 24:
        return bytes([major << 5 | n])
    for width, info in ((1, 24), (2, 25), (4, 26), (8, 27)):
        if n < 1 << (8 * width):
            return bytes([major << 5 | info]) + n.to_bytes(width, "big")


def ints(b):
    return head(4, len(b)) + b"".join(head(0, x) for x in b)


def text(s):
    return head(3, len(s)) + s.encode()


def sign_section(pcr0, key_path, cert_path):
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
    key = serialization.load_pem_private_key(open(key_path, "rb").read(), None)
    # the specification's three algorithms, by the key's curve
    alg, digest, n = {"secp256r1": (b"\x26", hashes.SHA256(), 32),
                      "secp384r1": (b"\x38\x22", hashes.SHA384(), 48),
                      "secp521r1": (b"\x38\x23", hashes.SHA512(), 66)}[key.curve.name]
    payload = b"\xa2" + text("register_index") + head(0, 0) + text("register_value") + ints(pcr0)
    protected = b"\xa1\x01" + alg
    sig_structure = b"\x84" + text("Signature1") + head(2, len(protected)) + protected + b"\x40" + head(2, len(payload)) + payload
    r, s = decode_dss_signature(key.sign(sig_structure, ec.ECDSA(digest)))
    cose = b"\x84" + head(2, len(protected)) + protected + b"\xa0" + head(2, len(payload)) + payload + head(2, 2 * n) + r.to_bytes(n, "big") + s.to_bytes(n, "big")
    pem = open(cert_path, "rb").read()
    return b"\x81\xa2" + text("signing_certificate") + ints(pem) + text("signature") + ints(cose)


def make(path, sign):
    rnd = os.urandom
    kernel, cmdline = rnd(4096 + rnd(1)[0]), b"reboot=k panic=30 pci=off console=ttyS0"
    metadata = json.dumps({"ImageName": "hand-made", "ImageVersion": "0.1", "BuildMetadata": {
        "BuildTime": "2024-06-01T00:00:00+00:00", "BuildTool": "it_eif_check.py",
        "BuildToolVersion": "1", "OperatingSystem": "none", "KernelVersion": "none"},
        "DockerInfo": None, "CustomMetadata": None}, separators=(",", ":")).encode()
    parts = [(1, kernel), (2, cmdline), (5, metadata), (3, rnd(3000)), (3, rnd(1500)), (3, rnd(10))]
    if sign:
        h0 = hashlib.sha384()
        for kind, chunk in parts:
            if kind != 5:
                h0.update(chunk)
        pcr0 = bytes.fromhex(extend(h0.digest()))
        parts.append((4, sign_section(pcr0, sign[0], sign[1])))
    offsets, sizes, pos = [], [], HEADER
    for _, chunk in parts:
        offsets.append(pos)
        sizes.append(len(chunk))
        pos += 12 + len(chunk)
    pad = [0] * (32 - len(parts))
    hdr = b".eif" + struct.pack(">HHQQHH", 4, 0, 512 << 20, 2, 0, len(parts))
    hdr += struct.pack(">32Q", *(offsets + pad)) + struct.pack(">32Q", *(sizes + pad)) + struct.pack(">I", 0)
    body = b"".join(struct.pack(">HHQ", kind, 0, len(chunk)) + chunk for kind, chunk in parts)
    crc = zlib.crc32(hdr + body)
    open(path, "wb").write(hdr + struct.pack(">I", crc) + body)


def verify(path):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
    data = open(path, "rb").read()
    pem, cose = signature_parts(data)
    (protected, unprotected, payload, sig), _ = cbor(cose)
    sig_structure = b"\x84" + text("Signature1") + head(2, len(protected)) + protected + b"\x40" + head(2, len(payload)) + payload
    key = x509.load_pem_x509_certificate(pem).public_key()
    digest = {b"\xa1\x01\x26": hashes.SHA256(), b"\xa1\x01\x38\x22": hashes.SHA384(),
              b"\xa1\x01\x38\x23": hashes.SHA512()}[protected]
    n = len(sig) // 2
    key.verify(encode_dss_signature(int.from_bytes(sig[:n], "big"), int.from_bytes(sig[n:], "big")),
               sig_structure, ec.ECDSA(digest))
    info, _ = cbor(payload)
    print(json.dumps({"register_index": info["register_index"],
                      "register_value": bytes(info["register_value"]).hex(),
                      "protected": protected.hex(), "unprotected": unprotected}))


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "pcrs":
        pcrs(sys.argv[2])
    elif cmd == "layout":
        layout(sys.argv[2])
    elif cmd == "make":
        make(sys.argv[2], sys.argv[4:6] if len(sys.argv) > 3 and sys.argv[3] == "--sign" else None)
    elif cmd == "verify":
        verify(sys.argv[2])
    else:
        raise SystemExit(__doc__)
