# SPDX-License-Identifier: Apache-2.0
"""Hostile clients against nsm-kms: oversized and malformed requests, stalled connections,
more connections than the server takes, and many concurrent clients.

    kms_hostile.py HOST PORT BODY_MAX CONNECTION_LIMIT [REQUEST_TIMEOUT]

The server must run with --timeout of a few seconds, --max-connections CONNECTION_LIMIT and
--request-timeout REQUEST_TIMEOUT (when given, clients trickling bytes are checked too).
Prints one "ok: ..." line per check, exits 1 after any failure.
"""
import json
import socket
import sys
import threading
import time

import boto3
import botocore.auth
import botocore.awsrequest
import botocore.session

HOST, PORT, BODY_MAX, LIMIT = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
REQUEST_TIMEOUT = int(sys.argv[5]) if len(sys.argv) > 5 else None
ENDPOINT = "http://%s:%d" % (HOST, PORT)
failures = 0


def ok(msg):
    print("ok: " + msg)


def fail(msg):
    global failures
    failures += 1
    print("FAIL: " + msg)


def connect():
    s = socket.create_connection((HOST, PORT), timeout=30)
    return s


def exchange(raw, wait=30):
    """Sends raw bytes, returns (status, parsed JSON body or None, raw response)."""
    s = connect()
    s.settimeout(wait)
    try:
        s.sendall(raw)
    except OSError:
        pass
    data = b""
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
            head, sep, body = data.partition(b"\r\n\r\n")
            if sep:
                length = [l for l in head.split(b"\r\n") if l.lower().startswith(b"content-length:")]
                if length and len(body) >= int(length[0].split(b":")[1]):
                    break
    except (socket.timeout, ConnectionResetError):
        pass
    s.close()
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ")[1]) if head.startswith(b"HTTP/1.1 ") else None
    try:
        parsed = json.loads(body) if body else None
    except ValueError:
        parsed = None
    return status, parsed, data


def signed_raw(operation, body, content_type="application/x-amz-json-1.1"):
    """A complete HTTP request signed by botocore's SigV4Auth, as bytes."""
    session = botocore.session.get_session()
    request = botocore.awsrequest.AWSRequest(
        method="POST", url=ENDPOINT + "/", data=body,
        headers={"Content-Type": content_type, "X-Amz-Target": "TrentService." + operation})
    botocore.auth.SigV4Auth(session.get_credentials(), "kms", "us-east-1").add_auth(request)
    prepared = request.prepare()
    lines = ["POST / HTTP/1.1", "Host: %s:%d" % (HOST, PORT), "Content-Length: %d" % len(body),
             "Connection: close"]
    lines += ["%s: %s" % (k, v) for k, v in prepared.headers.items() if k.lower() != "host"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def expect(what, raw, status, error_type):
    got_status, body, data = exchange(raw)
    got_type = body.get("__type") if isinstance(body, dict) else None
    if got_status != status or got_type != error_type:
        fail("%s: got %r %r, want %r %r (%r)" % (what, got_status, got_type, status, error_type,
                                                 data[:300]))
    else:
        ok("%s: %d %s: %s" % (what, status, error_type, body.get("message")))


def kms_client():
    return boto3.client("kms", endpoint_url=ENDPOINT)


def alive(what):
    try:
        kms_client().list_keys(Limit=1)
        ok("%s: the server still answers" % what)
    except Exception as err:  # noqa: BLE001 - any failure is the finding
        fail("%s: the server does not answer: %r" % (what, err))


def trickle_clients(count, request_timeout):
    stop = threading.Event()
    cut = []

    def trickle():
        s = connect()
        start = time.monotonic()
        try:
            s.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            while not stop.is_set():
                s.sendall(b"x")  # one header byte every half second: never idle
                time.sleep(0.5)
        except OSError:
            cut.append(time.monotonic() - start)
        s.close()

    threads = [threading.Thread(target=trickle) for _ in range(count)]
    for t in threads:
        t.start()
    time.sleep(0.5)
    t0 = time.monotonic()
    status, _, _ = exchange(signed_raw("ListKeys", b"{}"), wait=120)
    waited = time.monotonic() - t0
    time.sleep(request_timeout + 2)
    stop.set()
    for t in threads:
        t.join(30)
    if status == 200 and waited < request_timeout + 10:
        ok("a request behind %d trickling clients was answered after %.1f s (--request-timeout %d)"
           % (count, waited, request_timeout))
    else:
        fail("a request behind %d trickling clients: status %r after %.1f s" % (count, status, waited))
    if len(cut) == count and max(cut) < request_timeout + 5:
        ok("every trickling client was cut, %.1f-%.1f s after it began" % (min(cut), max(cut)))
    else:
        fail("%d of %d trickling clients were cut (%s)" % (len(cut), count,
             ", ".join("%.1f" % c for c in cut)))


def main():
    # ---- bodies over the limit are refused before parsing ------------------------------
    declared = ("POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-amz-json-1.1\r\n"
                "X-Amz-Target: TrentService.ListKeys\r\nContent-Length: %d\r\n\r\n"
                % (BODY_MAX * 16)).encode()
    expect("Content-Length over the limit (body never sent)", declared, 413, "ValidationException")
    chunk = b"a" * 60000
    chunked = (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-amz-json-1.1\r\n"
               b"Transfer-Encoding: chunked\r\n\r\n")
    for _ in range(BODY_MAX // len(chunk) + 2):
        chunked += b"%x\r\n" % len(chunk) + chunk + b"\r\n"
    chunked += b"0\r\n\r\n"
    expect("chunked body over the limit", chunked, 413, "ValidationException")
    alive("after oversized bodies")

    # ---- requests of the wrong shape -------------------------------------------------------
    expect("GET", b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 405,
           "ValidationException")
    expect("POST to another path", b"POST /keys HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n"
           b"Connection: close\r\n\r\n{}", 400, "ValidationException")
    expect("wrong Content-Type", signed_raw("ListKeys", b"{}", "application/json"), 415,
           "ValidationException")
    expect("no Authorization", b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: "
           b"application/x-amz-json-1.1\r\nX-Amz-Target: TrentService.ListKeys\r\n"
           b"Content-Length: 2\r\nConnection: close\r\n\r\n{}", 400,
           "MissingAuthenticationTokenException")
    expect("malformed JSON", signed_raw("ListKeys", b'{"Limit": '), 400, "SerializationException")
    expect("JSON nested 30000 deep", signed_raw("ListKeys", b"[" * 30000 + b"]" * 30000), 400,
           "SerializationException")
    expect("unknown operation", signed_raw("DeleteAllKeys", b"{}"), 400,
           "UnknownOperationException")
    expect("wrong-typed field", signed_raw("GenerateRandom", b'{"NumberOfBytes": "many"}'), 400,
           "SerializationException")
    expect("bad base64", signed_raw("Decrypt", b'{"CiphertextBlob": "@@@@"}'), 400,
           "SerializationException")
    status, _, data = exchange(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 64, wait=15)
    if status not in (None, 400):
        fail("TLS bytes: unexpected %r" % data[:100])
    else:
        ok("TLS ClientHello bytes: %s" % ("400" if status else "connection closed"))
    alive("after malformed requests")

    # ---- stalled clients hold nothing the others need -------------------------------------------
    stalled = []
    for _ in range(LIMIT // 2):
        s = connect()
        s.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n")  # and then nothing
        stalled.append(s)
    half = connect()
    half.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-amz-json-1.1\r\n"
                 b"Content-Length: 1000\r\n\r\n{\"Lim")  # a body that never finishes
    stalled.append(half)
    alive("with %d stalled clients connected" % len(stalled))
    deadline = time.monotonic() + 60
    closed = 0
    for s in stalled:
        s.settimeout(max(1.0, deadline - time.monotonic()))
        try:
            while s.recv(1024) != b"":  # an error response may come first; then the close
                pass
            closed += 1
        except socket.timeout:
            pass
        except ConnectionResetError:
            closed += 1
        s.close()
    if closed == len(stalled):
        ok("every stalled client was disconnected by the server's idle timeout")
    else:
        fail("%d of %d stalled clients were never disconnected" % (len(stalled) - closed, len(stalled)))

    # ---- more connections than the limit: the extra ones wait in the kernel's backlog (the
    # server stops accepting at the limit) until the idle timeout frees the stalled slots ----
    held = [connect() for _ in range(LIMIT)]
    time.sleep(0.5)
    served = 0
    for _ in range(3):
        status, _, _ = exchange(signed_raw("ListKeys", b"{}"), wait=60)
        if status == 200:
            served += 1
    for s in held:
        s.close()
    if served == 3:
        ok("connections beyond --max-connections %d waited for the idle timeout to free slots, "
           "then were served" % LIMIT)
    else:
        fail("%d of 3 connections beyond the limit were never served" % (3 - served))
    time.sleep(0.5)
    alive("after the connection flood")

    # ---- clients trickling bytes (faster than the idle timeout) fill every slot: each is cut
    # --request-timeout after it began, so a normal request waits about that long, not for
    # ever (issue 22's probe: 64 tricklers made a normal request wait over 30 s) ------------
    if REQUEST_TIMEOUT:
        trickle_clients(LIMIT, REQUEST_TIMEOUT)
        alive("after the trickling clients")

    # ---- many concurrent clients ---------------------------------------------------------------------
    key = kms_client().create_key(Description="concurrency")["KeyMetadata"]["KeyId"]
    errors = []

    def worker(n):
        try:
            client = kms_client()
            for i in range(5):
                secret = ("client %d request %d" % (n, i)).encode()
                blob = client.encrypt(KeyId=key, Plaintext=secret)["CiphertextBlob"]
                if client.decrypt(CiphertextBlob=blob)["Plaintext"] != secret:
                    errors.append("client %d: wrong plaintext" % n)
        except Exception as err:  # noqa: BLE001
            errors.append("client %d: %r" % (n, err))

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    if errors or any(t.is_alive() for t in threads):
        fail("concurrent clients: %s" % "; ".join(errors[:5]))
    else:
        ok("8 concurrent clients, 40 encrypt/decrypt round trips, all correct")
    sys.exit(1 if failures else 0)


main()
