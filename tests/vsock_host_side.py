#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""The host side of tests/it_qemu_vsock.sh: unix-socket servers and clients on the vsock
network DIR (never AF_VSOCK), around one guest with CID G.

  vsock_host_side.py DIR G OUTDIR [--no-echo-9000]

Servers (one thread each, until killed):
  DIR/3.9000        echo (AWS init's heartbeat: 0xB7 back for 0xB7), unless --no-echo-9000
                    (then `nsm-vsock heartbeat` answers there)
  DIR/3.7000        "host:<bytes> peer=<unix peer name>"
  DIR/G.vsock_7100  "fc:<bytes>"   (Firecracker's <device socket>_<port>)
  DIR/3.7100        "net:<bytes>"  (only reached when the one above is absent)
  DIR/3.7200        a sink: counts bytes until EOF, answers "ok <count> <sum mod 2^32>"
  DIR/3.7300        a source: 4 MiB of a pattern (byte i = i*7 mod 251), then EOF
Clients (tried until the guest listens on port 5000):
  DIR/G.vsock "CONNECT 5000" from a plain socket          -> OUTDIR/plain
  DIR/G.vsock "CONNECT 05000" (a leading zero: refused) -> OUTDIR/bad_line
  the same bound at DIR/3.6000.peer first                 -> OUTDIR/named
  DIR/G.vsock "CONNECT 5100" (socat VSOCK-LISTEN in the guest, echoing) -> OUTDIR/socat_listen
"""
import os
import socket
import sys
import threading
import time

d, guest, out = sys.argv[1], sys.argv[2], sys.argv[3]


def serve(path, answer):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(path)
    s.listen(8)
    while True:
        c, peer = s.accept()
        threading.Thread(target=answer, args=(c, peer), daemon=True).start()


def echo(c, peer):
    while True:
        b = c.recv(65536)
        if not b:
            break
        c.sendall(b)
    c.close()


def replier(prefix):
    def answer(c, peer):
        data = b""
        while True:
            b = c.recv(4096)
            if not b:
                break
            data += b
        extra = (" peer=" + os.path.basename(peer)) if prefix == b"host:" else ""
        c.sendall(prefix + data + extra.encode())
        c.close()
    return answer


def sink(c, peer):
    n = total = 0
    while True:
        b = c.recv(1 << 20)
        if not b:
            break
        n += len(b)
        total = (total + sum(b)) & 0xffffffff
    c.sendall(b"ok %d %d\n" % (n, total))
    c.close()


PATTERN = bytes((i * 7) % 251 for i in range(4 << 20))


def source(c, peer):
    c.sendall(PATTERN)
    c.close()


def connect_guest(bind_name, line):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    if bind_name:
        path = os.path.join(d, bind_name)
        s.bind(path)
    s.settimeout(20)
    try:
        s.connect(os.path.join(d, guest + ".vsock"))
    finally:
        if bind_name:
            os.unlink(path)
    s.sendall(line)
    got = b""
    while not got.endswith(b"\n"):
        b = s.recv(1)
        if not b:
            return None
        got += b
    s.sendall(b"from-host")
    s.shutdown(socket.SHUT_WR)
    rest = b""
    while True:
        b = s.recv(4096)
        if not b:
            break
        rest += b
    return got.decode() + rest.decode()


def clients():
    # until the guest boots and listens, the guest resets each attempt (or the backend
    # closes it while no guest is attached): tried again every 0.3 s
    deadline = time.time() + 240
    for name, bind_name, port in (("plain", None, 5000), ("bad_line", None, 5000),
                                  ("named", "3.6000.peer", 5000), ("socat_listen", None, 5100)):
        if name == "bad_line":
            # the guest is up: a malformed line is closed without OK, and the backend
            # keeps serving the next one
            try:
                r = connect_guest(None, b"CONNECT 05000\n")
            except OSError as e:
                r = "error " + str(e)
            open(os.path.join(out, name), "w").write(repr(r))
            continue
        r = None
        while r is None and time.time() < deadline:
            try:
                r = connect_guest(bind_name, b"CONNECT %d\n" % port)
            except OSError:
                r = None
            if r is None:
                time.sleep(0.3)
        open(os.path.join(out, name), "w").write(r or "none")


servers = [(os.path.join(d, "3.7000"), replier(b"host:")),
           (os.path.join(d, guest + ".vsock_7100"), replier(b"fc:")),
           (os.path.join(d, "3.7100"), replier(b"net:")),
           (os.path.join(d, "3.7200"), sink), (os.path.join(d, "3.7300"), source)]
if "--no-echo-9000" not in sys.argv:
    servers.append((os.path.join(d, "3.9000"), echo))
for path, fn in servers:
    threading.Thread(target=serve, args=(path, fn), daemon=True).start()
threading.Thread(target=clients, daemon=True).start()
open(os.path.join(out, "ready"), "w").write("ready")
while True:
    time.sleep(3600)
