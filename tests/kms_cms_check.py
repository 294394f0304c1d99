#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""An independent reading of CiphertextForRecipient: asn1crypto parses the BER, the Python
cryptography package decrypts (RSAES-OAEP SHA-256/MGF1-SHA-256, AES-256-CBC). Neither shares
code with nsm-kms or OpenSSL's CMS. Prints one "ok:" line per property and the secret's
length; exits 1 on the first property that does not hold.

usage: kms_cms_check.py BLOB PRIVATE_KEY_PEM EXPECTED_SECRET_FILE
"""
import hashlib
import sys

from asn1crypto import cms
from cryptography.hazmat.primitives import hashes, padding, serialization
from cryptography.hazmat.primitives.asymmetric import padding as asym
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes


def check(what, cond):
    if not cond:
        print("FAIL: CiphertextForRecipient (asn1crypto): %s" % what)
        sys.exit(1)


def main():
    blob = open(sys.argv[1], "rb").read()
    key = serialization.load_pem_private_key(open(sys.argv[2], "rb").read(), password=None)
    expected = open(sys.argv[3], "rb").read()
    spki = key.public_key().public_bytes(serialization.Encoding.DER,
                                         serialization.PublicFormat.SubjectPublicKeyInfo)

    check("starts 30 80 (BER, indefinite length)", blob[:2] == b"\x30\x80")
    info = cms.ContentInfo.load(blob, strict=True)
    check("content type envelopedData", info["content_type"].native == "enveloped_data")
    env = info["content"]
    check("EnvelopedData version 2", env["version"].native == "v2")
    check("no originator info", not env["originator_info"].native)
    check("one recipient", len(env["recipient_infos"]) == 1)
    ri = env["recipient_infos"][0]
    check("a KeyTransRecipientInfo", ri.name == "ktri")
    ktri = ri.chosen
    check("KeyTransRecipientInfo version 2", ktri["version"].native == "v2")
    check("recipient named by subjectKeyIdentifier", ktri["rid"].name == "subject_key_identifier")
    check("subjectKeyIdentifier = SHA-256 of the DER SubjectPublicKeyInfo",
          ktri["rid"].chosen.native == hashlib.sha256(spki).digest())
    alg = ktri["key_encryption_algorithm"]
    check("RSAES-OAEP", alg["algorithm"].native == "rsaes_oaep")
    params = alg["parameters"]
    check("explicit OAEP parameters", params is not None and params.contents is not None
          and len(params.contents) > 0)
    check("OAEP hash SHA-256", params["hash_algorithm"]["algorithm"].native == "sha256")
    mgf = params["mask_gen_algorithm"]
    check("MGF1 with SHA-256", mgf["algorithm"].native == "mgf1"
          and mgf["parameters"]["algorithm"].native == "sha256")
    eci = env["encrypted_content_info"]
    check("content type data", eci["content_type"].native == "data")
    calg = eci["content_encryption_algorithm"]
    check("AES-256-CBC", calg["algorithm"].native == "aes256_cbc")
    iv = calg["parameters"].native
    check("a 16-byte IV", len(iv) == 16)

    cek = key.decrypt(ktri["encrypted_key"].native,
                      asym.OAEP(mgf=asym.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None))
    check("a 32-byte content key", len(cek) == 32)
    dec = Cipher(algorithms.AES(cek), modes.CBC(iv)).decryptor()
    padded = dec.update(eci["encrypted_content"].native) + dec.finalize()
    unpad = padding.PKCS7(128).unpadder()
    secret = unpad.update(padded) + unpad.finalize()
    check("the secret is the expected one", secret == expected)
    print("ok: asn1crypto + cryptography read KMS's form and decrypt %d bytes of secret" % len(secret))


main()
