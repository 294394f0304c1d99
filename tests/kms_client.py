# SPDX-License-Identifier: Apache-2.0
"""Drives nsm-kms with boto3 and botocore from Debian's packages (python3-boto3).

    kms_client.py ENDPOINT boto3            key life cycle through boto3's KMS client
    kms_client.py ENDPOINT model            whether this botocore knows Recipient
    kms_client.py ENDPOINT recipient KEY_ID BLOB_B64 DOC_FILE CMS_OUT
                                            Decrypt with Recipient, as a raw request signed
                                            by botocore's SigV4Auth (Debian's botocore
                                            predates the Recipient member)
    kms_client.py ENDPOINT raw OPERATION JSON   one signed request; prints status and body

Credentials and region come from the environment (AWS_ACCESS_KEY_ID, ...). Prints one
"ok: ..." line per check and exits 1 on the first failure.
"""
import base64
import json
import sys
import urllib.request
import urllib.error

import boto3
import botocore
import botocore.auth
import botocore.awsrequest
import botocore.credentials
import botocore.session


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


def ok(msg):
    print("ok: " + msg)


def signed_post(endpoint, operation, body):
    """POST one KMS request signed with botocore's own SigV4 signer; (status, parsed body)."""
    session = botocore.session.get_session()
    creds = session.get_credentials()
    region = session.get_config_variable("region") or "us-east-1"
    data = json.dumps(body).encode()
    request = botocore.awsrequest.AWSRequest(
        method="POST", url=endpoint + "/", data=data,
        headers={"Content-Type": "application/x-amz-json-1.1",
                 "X-Amz-Target": "TrentService." + operation})
    botocore.auth.SigV4Auth(creds, "kms", region).add_auth(request)
    prepared = request.prepare()
    raw = urllib.request.Request(prepared.url, data=data, method="POST",
                                 headers=dict(prepared.headers.items()))
    try:
        with urllib.request.urlopen(raw, timeout=60) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"{}")


def run_boto3(endpoint):
    kms = boto3.client("kms", endpoint_url=endpoint)
    key = kms.create_key(Description="boto3 key")["KeyMetadata"]
    if key["KeyState"] != "Enabled" or not key["Arn"].endswith(key["KeyId"]):
        fail("create_key metadata: %r" % key)
    ok("boto3 create_key " + key["KeyId"])
    kms.create_alias(AliasName="alias/boto3", TargetKeyId=key["KeyId"])
    blob = kms.encrypt(KeyId="alias/boto3", Plaintext=b"from boto3",
                       EncryptionContext={"app": "test"})["CiphertextBlob"]
    out = kms.decrypt(CiphertextBlob=blob, EncryptionContext={"app": "test"})
    if out["Plaintext"] != b"from boto3" or key["KeyId"] not in out["KeyId"]:
        fail("decrypt round trip: %r" % out)
    ok("boto3 encrypt/decrypt with an alias and an encryption context")
    try:
        kms.decrypt(CiphertextBlob=blob)
        fail("decrypt without the encryption context succeeded")
    except kms.exceptions.InvalidCiphertextException:
        ok("boto3 sees InvalidCiphertextException for a missing encryption context")
    tampered = bytearray(blob)
    tampered[-1] ^= 1
    try:
        kms.decrypt(CiphertextBlob=bytes(tampered), EncryptionContext={"app": "test"})
        fail("a tampered blob decrypted")
    except kms.exceptions.InvalidCiphertextException:
        ok("boto3 sees InvalidCiphertextException for a flipped bit")
    dk = kms.generate_data_key(KeyId=key["Arn"], KeySpec="AES_256")
    if len(dk["Plaintext"]) != 32:
        fail("data key length")
    if kms.decrypt(CiphertextBlob=dk["CiphertextBlob"])["Plaintext"] != dk["Plaintext"]:
        fail("data key blob does not decrypt to the data key")
    ok("boto3 generate_data_key: the blob decrypts to the plaintext key")
    dk2 = kms.generate_data_key_without_plaintext(KeyId=key["KeyId"], NumberOfBytes=24)
    if "Plaintext" in dk2 or len(kms.decrypt(CiphertextBlob=dk2["CiphertextBlob"])["Plaintext"]) != 24:
        fail("generate_data_key_without_plaintext")
    ok("boto3 generate_data_key_without_plaintext")
    if len(kms.generate_random(NumberOfBytes=48)["Plaintext"]) != 48:
        fail("generate_random")
    ok("boto3 generate_random")
    try:
        kms.describe_key(KeyId="00000000-0000-4000-8000-000000000000")
        fail("describe_key of an unknown key succeeded")
    except kms.exceptions.NotFoundException:
        ok("boto3 sees NotFoundException for an unknown key id")
    try:
        kms.put_key_policy(KeyId=key["KeyId"], PolicyName="default", Policy='{"Statement": 5}')
        fail("a broken policy was accepted")
    except kms.exceptions.MalformedPolicyDocumentException as err:
        ok("boto3 sees MalformedPolicyDocumentException: " + str(err))
    aliases = kms.list_aliases(KeyId=key["KeyId"])["Aliases"]
    if [a["AliasName"] for a in aliases] != ["alias/boto3"]:
        fail("list_aliases: %r" % aliases)
    keys = [k["KeyId"] for k in kms.list_keys()["Keys"]]
    if key["KeyId"] not in keys:
        fail("list_keys lacks the key")
    ok("boto3 list_keys and list_aliases")


def run_model():
    model = botocore.session.get_session().get_service_model("kms")
    members = model.operation_model("Decrypt").input_shape.members
    print("botocore %s: Decrypt input members: %s" % (botocore.__version__, ", ".join(members)))
    print("RECIPIENT_IN_MODEL=%s" % ("Recipient" in members))


def run_recipient(endpoint, key_id, blob_b64, doc_file, cms_out):
    with open(doc_file, "rb") as f:
        doc = f.read()
    status, body = signed_post(endpoint, "Decrypt", {
        "KeyId": key_id, "CiphertextBlob": blob_b64,
        "Recipient": {"AttestationDocument": base64.b64encode(doc).decode(),
                      "KeyEncryptionAlgorithm": "RSAES_OAEP_SHA_256"}})
    if status != 200:
        print("kms error: %s: %s" % (body.get("__type"), body.get("message")))
        sys.exit(3)
    if "Plaintext" in body:
        fail("a Recipient request was answered with Plaintext")
    with open(cms_out, "wb") as f:
        f.write(base64.b64decode(body["CiphertextForRecipient"]))
    ok("Decrypt with Recipient (raw request signed by botocore's SigV4Auth): "
       "CiphertextForRecipient of %d bytes, no Plaintext" % len(base64.b64decode(body["CiphertextForRecipient"])))


def main():
    endpoint, what = sys.argv[1], sys.argv[2]
    if what == "boto3":
        run_boto3(endpoint)
    elif what == "model":
        run_model()
    elif what == "recipient":
        run_recipient(endpoint, *sys.argv[3:7])
    elif what == "raw":
        status, body = signed_post(endpoint, sys.argv[3], json.loads(sys.argv[4]))
        print(status, json.dumps(body))
    else:
        fail("unknown mode " + what)


if __name__ == "__main__":
    main()
