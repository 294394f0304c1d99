#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""The rest of the Recipient API from a raw SigV4 client (botocore's SigV4Auth, as Debian's
botocore 1.29 knows none of these members): asymmetric keys (CreateKey with KeySpec and
KeyUsage, DescribeKey, GetPublicKey), Sign and Verify, DeriveSharedSecret with and without
Recipient, GenerateDataKeyPair with and without Recipient, GenerateDataKeyPairWithoutPlaintext,
and a NitroTPM attestation document as the recipient under NitroTPMPCR<n> conditions. Every
answer is checked independently with Python's cryptography and asn1crypto.

    kms_asym.py ENDPOINT ENCLAVE_KEY_PEM NSM_DOC NITROTPM_DOC PCR0_HEX

NSM_DOC and NITROTPM_DOC carry ENCLAVE_KEY_PEM's public key and PCR0 = PCR0_HEX. Prints one
"ok:" line per check, exits 1 on the first failure.
"""
import base64
import hashlib
import json
import os
import sys

from asn1crypto import cms
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, padding, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric import padding as asym
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kms_client import signed_post  # noqa: E402  (the same botocore SigV4Auth signer)

ENDPOINT, KEY_PEM, NSM_DOC, TPM_DOC, PCR0 = sys.argv[1:6]
ENCLAVE_KEY = serialization.load_pem_private_key(open(KEY_PEM, "rb").read(), password=None)


def ok(msg):
    print("ok: " + msg)


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


def call(operation, body, want=200):
    status, answer = signed_post(ENDPOINT, operation, body)
    if status != want:
        fail("%s: %d %s" % (operation, status, json.dumps(answer)[:400]))
    return answer


def b64(data):
    return base64.b64encode(data).decode()


def recipient(doc_file):
    return {"AttestationDocument": b64(open(doc_file, "rb").read()),
            "KeyEncryptionAlgorithm": "RSAES_OAEP_SHA_256"}


def open_cms(blob_b64):
    """CiphertextForRecipient opened with asn1crypto and cryptography only."""
    blob = base64.b64decode(blob_b64)
    if blob[:2] != b"\x30\x80":
        fail("CiphertextForRecipient does not start 30 80")
    env = cms.ContentInfo.load(blob)["content"]
    ktri = env["recipient_infos"][0].chosen
    spki = ENCLAVE_KEY.public_key().public_bytes(serialization.Encoding.DER,
                                                 serialization.PublicFormat.SubjectPublicKeyInfo)
    if ktri["rid"].chosen.native != hashlib.sha256(spki).digest():
        fail("the recipient identifier is not the SHA-256 of the enclave's key")
    cek = ENCLAVE_KEY.decrypt(ktri["encrypted_key"].native, asym.OAEP(
        mgf=asym.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None))
    eci = env["encrypted_content_info"]
    iv = eci["content_encryption_algorithm"]["parameters"].native
    dec = Cipher(algorithms.AES(cek), modes.CBC(iv)).decryptor()
    padded = dec.update(eci["encrypted_content"].native) + dec.finalize()
    unpad = padding.PKCS7(128).unpadder()
    return unpad.update(padded) + unpad.finalize()


def enclave_policy(condition_key, value):
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Sid": "admin", "Effect": "Allow", "Action": ["kms:DescribeKey", "kms:GetPublicKey",
                                                       "kms:Sign", "kms:Verify"],
         "Resource": "*"},
        {"Sid": "enclave", "Effect": "Allow", "Action": ["kms:DeriveSharedSecret",
                                                         "kms:GenerateDataKeyPair"],
         "Resource": "*",
         "Condition": {"StringEqualsIgnoreCase": {condition_key: value}}}]})


def check_signing():
    for spec, algorithm in (("RSA_2048", "RSASSA_PSS_SHA_256"), ("RSA_3072", "RSASSA_PKCS1_V1_5_SHA_384"),
                            ("ECC_NIST_P256", "ECDSA_SHA_256"), ("ECC_NIST_P384", "ECDSA_SHA_384"),
                            ("ECC_NIST_P521", "ECDSA_SHA_512")):
        meta = call("CreateKey", {"KeySpec": spec, "KeyUsage": "SIGN_VERIFY"})["KeyMetadata"]
        if meta["KeySpec"] != spec or algorithm not in meta["SigningAlgorithms"]:
            fail("CreateKey %s: metadata %s" % (spec, meta))
        pub = call("GetPublicKey", {"KeyId": meta["KeyId"]})
        if pub["KeyUsage"] != "SIGN_VERIFY" or algorithm not in pub["SigningAlgorithms"]:
            fail("GetPublicKey %s: %s" % (spec, pub))
        public = serialization.load_der_public_key(base64.b64decode(pub["PublicKey"]))
        message = b"signed by nsm-kms"
        sig = base64.b64decode(call("Sign", {"KeyId": meta["KeyId"], "Message": b64(message),
                                             "SigningAlgorithm": algorithm})["Signature"])
        h = {"256": hashes.SHA256(), "384": hashes.SHA384(), "512": hashes.SHA512()}[algorithm[-3:]]
        try:
            if spec.startswith("ECC"):
                public.verify(sig, message, ec.ECDSA(h))
            elif "PSS" in algorithm:
                public.verify(sig, message, asym.PSS(mgf=asym.MGF1(h), salt_length=h.digest_size), h)
            else:
                public.verify(sig, message, asym.PKCS1v15(), h)
        except InvalidSignature:
            fail("%s %s: the signature does not verify with cryptography" % (spec, algorithm))
        answer = call("Verify", {"KeyId": meta["KeyId"], "Message": b64(message),
                                 "Signature": b64(sig), "SigningAlgorithm": algorithm})
        if answer.get("SignatureValid") is not True:
            fail("Verify: %s" % answer)
        bad = call("Verify", {"KeyId": meta["KeyId"], "Message": b64(b"another message"),
                              "Signature": b64(sig), "SigningAlgorithm": algorithm}, want=400)
        if bad.get("__type") != "KMSInvalidSignatureException":
            fail("Verify of a wrong message: %s" % bad)
        ok("%s SIGN_VERIFY: GetPublicKey, Sign (%s, checked by cryptography), Verify, "
           "KMSInvalidSignatureException for another message" % (spec, algorithm))
    bad = call("CreateKey", {"KeySpec": "ECC_NIST_P256", "KeyUsage": "ENCRYPT_DECRYPT"}, want=400)
    if bad.get("__type") != "ValidationException":
        fail("ECC with ENCRYPT_DECRYPT: %s" % bad)
    ok("CreateKey ECC_NIST_P256 with ENCRYPT_DECRYPT: ValidationException, as AWS")


def check_rsa_encryption():
    key = call("CreateKey", {"KeySpec": "RSA_3072", "KeyUsage": "ENCRYPT_DECRYPT"})["KeyMetadata"]
    if key.get("EncryptionAlgorithms") != ["RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256"]:
        fail("RSA ENCRYPT_DECRYPT metadata: %s" % key)
    public = serialization.load_der_public_key(base64.b64decode(
        call("GetPublicKey", {"KeyId": key["KeyId"]})["PublicKey"]))
    for algorithm, h in (("RSAES_OAEP_SHA_256", hashes.SHA256()), ("RSAES_OAEP_SHA_1", hashes.SHA1())):
        blob = public.encrypt(b"encrypted by cryptography", asym.OAEP(mgf=asym.MGF1(h), algorithm=h,
                                                                      label=None))
        answer = call("Decrypt", {"KeyId": key["KeyId"], "CiphertextBlob": b64(blob),
                                  "EncryptionAlgorithm": algorithm})
        if base64.b64decode(answer["Plaintext"]) != b"encrypted by cryptography":
            fail("Decrypt %s of cryptography's ciphertext: %s" % (algorithm, answer))
        answer = call("Decrypt", {"KeyId": key["KeyId"], "CiphertextBlob": b64(blob),
                                  "EncryptionAlgorithm": algorithm, "Recipient": recipient(NSM_DOC)})
        if "Plaintext" in answer or open_cms(answer["CiphertextForRecipient"]) != b"encrypted by cryptography":
            fail("Decrypt %s with Recipient: %s" % (algorithm, sorted(answer)))
    ok("RSA_3072 ENCRYPT_DECRYPT: what cryptography encrypts to GetPublicKey (RSAES_OAEP_SHA_1 and "
       "_256) Decrypts, with Recipient only inside CiphertextForRecipient")


def check_key_agreement(pcr0):
    for spec, curve in (("ECC_NIST_P256", ec.SECP256R1()), ("ECC_NIST_P384", ec.SECP384R1()),
                        ("ECC_NIST_P521", ec.SECP521R1())):
        key = call("CreateKey", {"KeySpec": spec, "KeyUsage": "KEY_AGREEMENT",
                                 "Policy": enclave_policy("kms:RecipientAttestation:PCR0", pcr0)}
                   )["KeyMetadata"]
        if key.get("KeyAgreementAlgorithms") != ["ECDH"]:
            fail("KEY_AGREEMENT metadata: %s" % key)
        kms_public = serialization.load_der_public_key(base64.b64decode(
            call("GetPublicKey", {"KeyId": key["KeyId"]})["PublicKey"]))
        peer = ec.generate_private_key(curve)
        peer_spki = peer.public_key().public_bytes(serialization.Encoding.DER,
                                                   serialization.PublicFormat.SubjectPublicKeyInfo)
        expected = peer.exchange(ec.ECDH(), kms_public)
        body = {"KeyId": key["KeyId"], "KeyAgreementAlgorithm": "ECDH", "PublicKey": b64(peer_spki)}
        denied = call("DeriveSharedSecret", body, want=400)
        if denied.get("__type") != "AccessDeniedException":
            fail("DeriveSharedSecret without Recipient under a PCR0 condition: %s" % denied)
        body["Recipient"] = recipient(NSM_DOC)
        answer = call("DeriveSharedSecret", body)
        if "SharedSecret" in answer or answer.get("KeyAgreementAlgorithm") != "ECDH" \
                or answer.get("KeyOrigin") != "AWS_KMS":
            fail("DeriveSharedSecret with Recipient: %s" % answer)
        if open_cms(answer["CiphertextForRecipient"]) != expected:
            fail("%s: the shared secret in CiphertextForRecipient is not the peer's ECDH" % spec)
        ok("%s KEY_AGREEMENT: DeriveSharedSecret with Recipient gives, only in "
           "CiphertextForRecipient, the secret the peer computes (%d bytes); without Recipient: "
           "AccessDeniedException" % (spec, len(expected)))


def check_data_key_pairs(pcr0):
    key = call("CreateKey", {"Policy": enclave_policy("kms:RecipientAttestation:ImageSha384",
                                                      pcr0.upper())})["KeyMetadata"]["KeyId"]
    for spec in ("RSA_2048", "ECC_NIST_P256", "ECC_NIST_P384", "ECC_SECG_P256K1", "RSA_4096"):
        answer = call("GenerateDataKeyPair", {"KeyId": key, "KeyPairSpec": spec,
                                              "Recipient": recipient(NSM_DOC)})
        if "PrivateKeyPlaintext" in answer or answer.get("KeyPairSpec") != spec:
            fail("GenerateDataKeyPair with Recipient: %s" % sorted(answer))
        private = serialization.load_der_private_key(open_cms(answer["CiphertextForRecipient"]), None)
        public = private.public_key().public_bytes(serialization.Encoding.DER,
                                                   serialization.PublicFormat.SubjectPublicKeyInfo)
        if public != base64.b64decode(answer["PublicKey"]):
            fail("%s: the private key in CiphertextForRecipient does not match PublicKey" % spec)
        ok("GenerateDataKeyPair %s with Recipient: PKCS#8 private key only in "
           "CiphertextForRecipient, matching PublicKey; no PrivateKeyPlaintext" % spec)
    denied = call("GenerateDataKeyPair", {"KeyId": key, "KeyPairSpec": "ECC_NIST_P256"}, want=400)
    if denied.get("__type") != "AccessDeniedException":
        fail("GenerateDataKeyPair without Recipient: %s" % denied)
    plain = call("CreateKey", {})["KeyMetadata"]["KeyId"]
    answer = call("GenerateDataKeyPair", {"KeyId": plain, "KeyPairSpec": "ECC_NIST_P384"})
    private = serialization.load_der_private_key(base64.b64decode(answer["PrivateKeyPlaintext"]), None)
    again = call("Decrypt", {"CiphertextBlob": answer["PrivateKeyCiphertextBlob"]})
    if base64.b64decode(again["Plaintext"]) != base64.b64decode(answer["PrivateKeyPlaintext"]):
        fail("PrivateKeyCiphertextBlob does not decrypt to PrivateKeyPlaintext")
    answer = call("GenerateDataKeyPairWithoutPlaintext", {"KeyId": plain, "KeyPairSpec": "RSA_2048"})
    if "PrivateKeyPlaintext" in answer or "PublicKey" not in answer:
        fail("GenerateDataKeyPairWithoutPlaintext: %s" % sorted(answer))
    ok("GenerateDataKeyPair without Recipient (%s): PrivateKeyPlaintext, and its blob Decrypts "
       "to it; WithoutPlaintext has no private key; under a PCR condition without Recipient: "
       "AccessDeniedException" % type(private).__name__)


def check_nitrotpm(pcr0):
    key = call("CreateKey", {"Policy": enclave_policy("kms:RecipientAttestation:NitroTPMPCR0",
                                                      pcr0)})["KeyMetadata"]["KeyId"]
    answer = call("GenerateDataKeyPair", {"KeyId": key, "KeyPairSpec": "ECC_NIST_P256",
                                          "Recipient": recipient(TPM_DOC)})
    serialization.load_der_private_key(open_cms(answer["CiphertextForRecipient"]), None)
    denied = call("GenerateDataKeyPair", {"KeyId": key, "KeyPairSpec": "ECC_NIST_P256",
                                          "Recipient": recipient(NSM_DOC)}, want=400)
    if denied.get("__type") != "AccessDeniedException":
        fail("an enclave's document under a NitroTPMPCR0 condition: %s" % denied)
    ok("a NitroTPM document as Recipient: kms:RecipientAttestation:NitroTPMPCR0 holds for it; an "
       "enclave's document with the same PCR0 is denied (it carries PCR0, not NitroTPMPCR0)")


check_signing()
check_rsa_encryption()
check_key_agreement(PCR0)
check_data_key_pairs(PCR0)
check_nitrotpm(PCR0)
