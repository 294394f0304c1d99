#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""enclave_decrypt.py: the first job of an enclave application, in Python, for a copy:

  1. generate an RSA-2048 key pair inside the enclave (cryptography);
  2. ask the NSM for an attestation document carrying the public key (libnsm via ctypes);
  3. send KMS Decrypt with Recipient, signed by botocore's own SigV4Auth: Debian bookworm's
     botocore (1.29) and awscli (2.9) have no Recipient member, so the request is built here;
  4. open CiphertextForRecipient with the private key (asn1crypto parses KMS's BER,
     cryptography decrypts RSAES-OAEP-SHA256 and AES-256-CBC).

    enclave_decrypt.py ENDPOINT CIPHERTEXT_BLOB_BASE64 [KEY_ID]

ENDPOINT is http://HOST:PORT (nsm-kms) or, in a real enclave, the vsock proxy's URL.
Credentials and region as botocore reads them (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
AWS_SESSION_TOKEN, AWS_REGION / AWS_DEFAULT_REGION). The NSM library is libnsm.so (the
official one in an enclave; nsmkit's drop-in under nsm-sim); NSM_LIBNSM names another path.
Prints "secret: <plaintext>" and exits 0; a KMS error prints "kms error: <__type>: <message>"
and exits 1; anything else exits 2.

Debian packages: python3-botocore (or python3-boto3), python3-cryptography, python3-asn1crypto.
"""
import base64
import ctypes
import json
import os
import sys
import urllib.error
import urllib.request

import botocore.auth
import botocore.awsrequest
import botocore.session
from asn1crypto import cms
from cryptography.hazmat.primitives import hashes, padding, serialization
from cryptography.hazmat.primitives.asymmetric import padding as asym
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

DOC_MAX = 16 * 1024


def die(what):
    print("enclave_decrypt.py: %s" % what, file=sys.stderr)
    sys.exit(2)


def attestation_document(public_key_der):
    """nsm_get_attestation_doc with the public key; user data and nonce left out."""
    nsm = ctypes.CDLL(os.environ.get("NSM_LIBNSM", "libnsm.so"))
    nsm.nsm_lib_init.restype = ctypes.c_int32
    nsm.nsm_get_attestation_doc.restype = ctypes.c_int
    nsm.nsm_get_attestation_doc.argtypes = [
        ctypes.c_int32, ctypes.c_void_p, ctypes.c_uint32, ctypes.c_void_p, ctypes.c_uint32,
        ctypes.c_char_p, ctypes.c_uint32, ctypes.c_char_p, ctypes.POINTER(ctypes.c_uint32)]
    fd = nsm.nsm_lib_init()
    if fd < 0:
        die("nsm_lib_init failed (no /dev/nsm?)")
    doc = ctypes.create_string_buffer(DOC_MAX)
    doc_len = ctypes.c_uint32(DOC_MAX)
    rc = nsm.nsm_get_attestation_doc(fd, None, 0, None, 0, public_key_der, len(public_key_der),
                                     doc, ctypes.byref(doc_len))
    nsm.nsm_lib_exit(fd)
    if rc != 0:
        die("nsm_get_attestation_doc failed with error code %d" % rc)
    return doc.raw[:doc_len.value]


def kms_call(endpoint, operation, body):
    """One KMS JSON request signed with botocore's SigV4Auth; (status, parsed answer)."""
    session = botocore.session.get_session()
    credentials = session.get_credentials()
    if credentials is None:
        die("no AWS credentials (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY)")
    region = session.get_config_variable("region") or "us-east-1"
    data = json.dumps(body).encode()
    request = botocore.awsrequest.AWSRequest(
        method="POST", url=endpoint.rstrip("/") + "/", data=data,
        headers={"Content-Type": "application/x-amz-json-1.1",
                 "X-Amz-Target": "TrentService." + operation})
    botocore.auth.SigV4Auth(credentials, "kms", region).add_auth(request)  # signs every header
    prepared = request.prepare()
    raw = urllib.request.Request(prepared.url, data=data, method="POST",
                                 headers=dict(prepared.headers.items()))
    try:
        with urllib.request.urlopen(raw, timeout=60) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"{}")
    except OSError as err:
        die("no answer from KMS at %s: %s" % (endpoint, err))


def open_ciphertext_for_recipient(blob, private_key):
    """KMS's CMS EnvelopedData (BER) -> the secret."""
    envelope = cms.ContentInfo.load(blob)["content"]
    ktri = envelope["recipient_infos"][0].chosen
    content_key = private_key.decrypt(ktri["encrypted_key"].native, asym.OAEP(
        mgf=asym.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None))
    content = envelope["encrypted_content_info"]
    iv = content["content_encryption_algorithm"]["parameters"].native
    decryptor = Cipher(algorithms.AES(content_key), modes.CBC(iv)).decryptor()
    padded = decryptor.update(content["encrypted_content"].native) + decryptor.finalize()
    unpadder = padding.PKCS7(128).unpadder()
    return unpadder.update(padded) + unpadder.finalize()


def main():
    if len(sys.argv) not in (3, 4):
        die("usage: enclave_decrypt.py ENDPOINT CIPHERTEXT_BLOB_BASE64 [KEY_ID]")
    endpoint, blob = sys.argv[1], sys.argv[2]
    private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    spki = private_key.public_key().public_bytes(serialization.Encoding.DER,
                                                 serialization.PublicFormat.SubjectPublicKeyInfo)
    doc = attestation_document(spki)
    request = {"CiphertextBlob": blob,
               "Recipient": {"AttestationDocument": base64.b64encode(doc).decode(),
                             "KeyEncryptionAlgorithm": "RSAES_OAEP_SHA_256"}}
    if len(sys.argv) == 4:
        request["KeyId"] = sys.argv[3]
    status, answer = kms_call(endpoint, "Decrypt", request)
    if status != 200:
        print("kms error: %s: %s" % (answer.get("__type"), answer.get("message")))
        sys.exit(1)
    if "Plaintext" in answer or "CiphertextForRecipient" not in answer:
        die("KMS's answer to a Recipient request carries no CiphertextForRecipient")
    secret = open_ciphertext_for_recipient(base64.b64decode(answer["CiphertextForRecipient"]),
                                           private_key)
    print("secret: %s" % secret.decode(errors="replace"))


if __name__ == "__main__":
    main()
