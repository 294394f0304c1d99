#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# The guest's vsock beside its virtio-serial path, in one QEMU boot (make bench runs it):
# round trips of 64 B and 4 KiB, and guest -> host throughput, each through the
# vhost-user vsock (nsm-vsock vhost-user, to a unix echo/sink server on DIR/3.P) and
# through a virtio-serial port (the path /dev/nsm takes in nsm-qemu guests, to the same
# kind of server on a QEMU chardev socket), printed as ratios measured in the same run.
# The extra serial ports come from a wrapper around QEMU (NSM_QEMU_QEMU); nsm-qemu itself
# is unchanged. Nothing here opens AF_VSOCK on the host.
set -u
BUILD=${BUILD:-build}
bin="$BUILD/bin"
image="$BUILD/qemu/image"
MIB=${VSOCK_BENCH_MIB:-16}
for f in "$image/initramfs.cpio" "$bin/nsm-qemu" "$bin/nsm-vsock" "$bin/nsm-ca"; do
    [ -f "$f" ] || { echo "vsock guest bench: skipped: missing $f (make qemu-image)"; exit 0; }
done
command -v python3 > /dev/null || { echo "vsock guest bench: skipped: no python3"; exit 0; }
qemu=$(command -v qemu-system-x86_64) || { echo "vsock guest bench: skipped: no QEMU"; exit 0; }
w=$(mktemp -d)
host_pid=""
trap 'kill $host_pid 2> /dev/null; rm -rf "$w"' EXIT
mkdir -m 0700 "$w/net"
"$bin/nsm-ca" init "$w/ca" > /dev/null

cat > "$w/host.py" << 'PY'
import os, socket, sys, threading
net, w, total = sys.argv[1], sys.argv[2], int(sys.argv[3]) << 20
def listen(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM); s.bind(path); s.listen(4); return s
def echo(c):
    while True:
        b = c.recv(65536)
        if not b: break
        c.sendall(b)
def sink(c, until_eof):
    n = 0
    while until_eof or n < total:
        b = c.recv(1 << 20)
        if not b: break
        n += len(b)
    c.sendall(b"ok %d\n" % n)
def serve(s, fn, *a):
    while True:
        c, _ = s.accept()
        threading.Thread(target=fn, args=(c,) + a, daemon=True).start()
for path, fn, a in ((net + "/3.8000", echo, ()), (net + "/3.8001", sink, (True,)),
                    (w + "/echo.sock", echo, ()), (w + "/sink.sock", sink, (False,))):
    threading.Thread(target=serve, args=(listen(path), fn) + a, daemon=True).start()
open(w + "/ready", "w").write("1")
threading.Event().wait()
PY
python3 "$w/host.py" "$w/net" "$w" "$MIB" &
host_pid=$!
i=0; while [ ! -f "$w/ready" ] && [ $i -lt 500 ]; do sleep 0.02; i=$((i + 1)); done

cat > "$w/qemu" << EOF2
#!/bin/sh
exec "$qemu" "\$@" -chardev socket,id=becho,path="$w/echo.sock" \
    -device virtserialport,chardev=becho,name=bench-echo \
    -chardev socket,id=bsink,path="$w/sink.sock" -device virtserialport,chardev=bsink,name=bench-sink
EOF2
chmod +x "$w/qemu"
cat > "$w/guest.sh" << EOF2
port() { for d in /sys/class/virtio-ports/*; do [ "\$(cat \$d/name)" = "\$1" ] && echo /dev/\${d##*/}; done; }
[ "\$(vsock_guest cid)" = 42 ] || { echo "the local CID is not 42: no connection made"; exit 1; }
vsock_guest --cid 42 rtt 3 8000 300 64 && vsock_guest serial-rtt "\$(port bench-echo)" 300 64 &&
vsock_guest --cid 42 rtt 3 8000 100 4096 && vsock_guest serial-rtt "\$(port bench-echo)" 100 4096 &&
vsock_guest --cid 42 blast 3 8001 $MIB && vsock_guest serial-blast "\$(port bench-sink)" $MIB
EOF2
NSM_QEMU_QEMU="$w/qemu" TMPDIR="$w" "$bin/nsm-qemu" run --ca "$w/ca" --timeout 600 \
    --vsock-dir "$w/net" --cid 42 --add "$w/guest.sh:/root/bench.sh" -- sh /root/bench.sh \
    > "$w/out" 2>&1 || { echo "vsock guest bench: the guest run failed: $(tail -n 3 "$w/out")"; exit 1; }

# "vsock rtt_us=123 n=300 size=64" / "serial throughput_mib_s=12.3 mib=16 ack=ok ..."
val() { grep "^$1 $2" "$w/out" | grep "size=$3" | sed "s/.*$2=\([0-9.]*\).*/\1/" | head -n 1; }
tput() { grep "^$1 throughput_mib_s=" "$w/out" | sed 's/.*throughput_mib_s=\([0-9.]*\).*/\1/' | head -n 1; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
echo "guest (QEMU TCG, one boot), vhost-user vsock beside virtio-serial, same run:"
for size in 64 4096; do
    v=$(val vsock rtt_us "$size"); s=$(val serial rtt_us "$size")
    [ -n "$v" ] && [ -n "$s" ] || { echo "vsock guest bench: no round trip for $size B: $(cat "$w/out")"; exit 1; }
    echo "  round trip $size B (median): vsock $v us, virtio-serial $s us: vsock = $(ratio "$v" "$s")x serial's time"
done
v=$(tput vsock); s=$(tput serial)
[ -n "$v" ] && [ -n "$s" ] || { echo "vsock guest bench: no throughput: $(cat "$w/out")"; exit 1; }
echo "  guest -> host $MIB MiB: vsock $v MiB/s, virtio-serial $s MiB/s: vsock = $(ratio "$v" "$s")x serial's throughput"
