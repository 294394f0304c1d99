#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# nsm-nitro-cli: nitro-cli's commands on QEMU guests.
# - build-enclave from a root filesystem directory and from a docker-save-like tarball made
#   here (Python's tarfile): same PCRs both ways, deterministic, equal to nsm-eif describe's,
#   layers applied in order with whiteouts (the image's ramdisk unpacked by cpio(1));
#   the same through an OCI image layout; signed builds (PCR8 = pcr --signing-certificate);
# - describe-eif and pcr: JSON field names and order as nitro-cli's (its json_output.rs and
#   `pcr`), PCR values against openssl dgst;
# - hostile tarballs refused with their code and nothing written outside the tree;
# - run-enclave / describe-enclaves / console / terminate-enclave with a stand-in for
#   `nsm-qemu run-eif` (a shell script that prints and sleeps, with a child of its own):
#   returns at once, the JSON, E44 for a non-debug console, E11 for an unknown id, nothing
#   left running;
# - when `nsm-qemu run-eif` and the QEMU image are there (runeif branch, make qemu-image): the
#   whole flow with one boot, the enclave's document verified against the image's PCRs.
set -u
BUILD=${BUILD:-build}
bin="$BUILD/bin"
cli="$bin/nsm-nitro-cli"
work=$(mktemp -d)
export NSM_NITRO_CLI_STATE="$work/state"
mkdir "$work/tmp" && export TMPDIR="$work/tmp"   # build-enclave's work directories
cleanup() {
    NSM_NITRO_CLI_STATE="$work/state" "$cli" terminate-enclave --all > /dev/null 2>&1
    rm -rf "$work"
}
trap cleanup EXIT
[ -n "${KEEP:-}" ] && trap - EXIT
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
ok() { echo "ok: $*"; }
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
field() { "$PY" -c 'import json,sys
d=json.load(open(sys.argv[1]))
for k in sys.argv[2].split("."): d=d[int(k)] if isinstance(d,list) else d[k]
print(str(d).lower() if isinstance(d,bool) else d)' "$1" "$2"; }
keys() { "$PY" -c 'import json,sys
d=json.load(open(sys.argv[1]), object_pairs_hook=lambda p: p)
for k in sys.argv[2].split(".") if sys.argv[2] else []:
    d=d[int(k)] if k.isdigit() else dict(d)[k]
print(" ".join(k for k, _ in d))' "$1" "${2:-}"; }

for h in build-enclave describe-eif pcr run-enclave describe-enclaves console terminate-enclave; do
    "$cli" $h --help > /dev/null && "$cli" $h --version > /dev/null || fail "$h --help/--version"
done
"$cli" --help > /dev/null && "$cli" --version | grep -q '^Nitro CLI ' &&
    ok "--help and --version everywhere" || fail "--help/--version"

if command -v groff > /dev/null 2>&1; then
    [ -z "$(groff -man -Tutf8 -ww -z man/nsm-nitro-cli.1 2>&1)" ] &&
        ok "man/nsm-nitro-cli.1 renders without warnings" || fail "man page warnings"
fi

# ---- inputs: a kernel stand-in, an init stand-in, a root filesystem ---------------------------
head -c 80000 /dev/urandom > "$work/kernel"
printf '#!/bin/sh\necho init\n' > "$work/init"
mkdir -p "$work/root/bin" "$work/root/etc" "$work/root/keep"
printf '#!/bin/sh\necho app "$@"\n' > "$work/root/bin/app"
echo b > "$work/root/etc/b"; echo y > "$work/root/keep/y"
ln -s /bin/app "$work/root/bin/alias"
chmod 755 "$work/root" "$work/root/bin" "$work/root/etc" "$work/root/keep" "$work/root/bin/app"
chmod 644 "$work/root/etc/b" "$work/root/keep/y"
blobs="--kernel $work/kernel --init $work/init"
build() { # build OUT [flags]
    out=$1; shift
    "$cli" build-enclave $blobs --output-file "$out" "$@" > "$out.json" 2> "$out.err"
}
build "$work/dir.eif" --rootfs "$work/root" --env PATH=/bin -- /bin/app x ||
    { fail "build-enclave --rootfs"; cat "$work/dir.eif.err"; }
build "$work/dir2.eif" --rootfs "$work/root" --env PATH=/bin -- /bin/app x
[ "$(keys "$work/dir.eif.json")" = "Measurements" ] &&
    [ "$(keys "$work/dir.eif.json" Measurements)" = "HashAlgorithm PCR0 PCR1 PCR2" ] &&
    ok "build-enclave prints nitro-cli's JSON: {Measurements: {HashAlgorithm, PCR0, PCR1, PCR2}}" ||
    fail "build-enclave JSON: $(cat "$work/dir.eif.json")"
grep -q "Start building the Enclave Image" "$work/dir.eif.err" &&
    grep -q "Enclave Image successfully created" "$work/dir.eif.err" &&
    ok "build-enclave's progress lines on stderr, as nitro-cli's" || fail "progress lines"
same=1
for p in PCR0 PCR1 PCR2; do
    [ "$(field "$work/dir.eif.json" Measurements.$p)" = "$(field "$work/dir2.eif.json" Measurements.$p)" ] || same=0
done
[ $same = 1 ] && ok "two builds of the same root filesystem: the same PCR0/1/2" ||
    fail "PCRs differ across builds"
"$bin/nsm-eif" describe --json "$work/dir.eif" > "$work/dir.describe" || fail "nsm-eif describe"
same=1
for p in PCR0 PCR1 PCR2; do
    [ "$(field "$work/dir.eif.json" Measurements.$p)" = "$(field "$work/dir.describe" Measurements.$p)" ] || same=0
done
[ $same = 1 ] && ok "build-enclave's PCRs are nsm-eif describe's" || fail "PCRs disagree with nsm-eif"

# the layout: bootstrap ramdisk (dev, dev/console, init), application ramdisk (cmd, env, rootfs)
mkdir -p "$work/x" && "$bin/nsm-eif" extract "$work/dir.eif" "$work/x" > /dev/null ||
    fail "nsm-eif extract"
(cd "$work/x" && cpio -it < ramdisk0 2> /dev/null) > "$work/rd0.list"
[ "$(tr '\n' ' ' < "$work/rd0.list")" = "dev dev/console init proc sys " ] &&
    cmp -s "$work/init" "$(cd "$work/x" && mkdir -p u0 && cd u0 && cpio -id < ../ramdisk0 2> /dev/null; echo "$work/x/u0/init")" &&
    ok "bootstrap ramdisk: dev, dev/console, init (the --init file), proc, sys" ||
    fail "bootstrap ramdisk: $(cat "$work/rd0.list")"
mkdir -p "$work/x/u1" && (cd "$work/x/u1" && cpio -id < ../ramdisk1 2> /dev/null)
[ "$(cat "$work/x/u1/cmd")" = "$(printf '/bin/app\nx')" ] && [ "$(cat "$work/x/u1/env")" = "PATH=/bin" ] &&
    [ -f "$work/x/u1/rootfs/etc/b" ] && [ "$(readlink "$work/x/u1/rootfs/bin/alias")" = /bin/app ] &&
    ok "application ramdisk: cmd, env, rootfs/ (a symbolic link kept as it is)" ||
    fail "application ramdisk: $(ls -R "$work/x/u1" | head -20)"

# ---- docker save: two layers, whiteouts; OCI layout; hostile tarballs -------------------------
"$PY" - "$work" <<'PYEOF' || fail "making the tarballs"
import hashlib, io, json, os, sys, tarfile
w = sys.argv[1]
def tar_bytes(entries, gz=False):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz" if gz else "w", format=tarfile.GNU_FORMAT) as t:
        for e in entries:
            kind, name = e[0], e[1]
            ti = tarfile.TarInfo(name)
            data = b""
            if kind == "dir": ti.type, ti.mode = tarfile.DIRTYPE, 0o755
            elif kind == "file": ti.mode, data = e[3] if len(e) > 3 else 0o644, e[2]
            elif kind == "sym": ti.type, ti.linkname = tarfile.SYMTYPE, e[2]
            elif kind == "hard": ti.type, ti.linkname = tarfile.LNKTYPE, e[2]
            ti.size = len(data)
            t.addfile(ti, io.BytesIO(data) if data else None)
    return buf.getvalue()
app = b'#!/bin/sh\necho app "$@"\n'
layer1 = [("dir", "bin/"), ("file", "bin/app", app, 0o755), ("sym", "bin/alias", "/bin/app"),
          ("dir", "etc/"), ("file", "etc/a", b"a\n"), ("file", "etc/b", b"b\n"),
          ("dir", "keep/"), ("file", "keep/x", b"x\n")]
layer2 = [("file", "etc/.wh.a", b""), ("file", "keep/y", b"y\n"),
          ("file", "keep/.wh..wh..opq", b"")]
config = {"architecture": "amd64", "os": "linux",
          "config": {"Entrypoint": ["/bin/app"], "Cmd": ["x"], "Env": ["PATH=/bin"]}}
def docker_save(path, layers, extra=(), manifest_layers=None, cfg=config):
    with tarfile.open(path, "w") as t:
        names = []
        def add(name, data):
            ti = tarfile.TarInfo(name); ti.size = len(data); t.addfile(ti, io.BytesIO(data))
        for i, l in enumerate(layers):
            names.append("l%d/layer.tar" % i); add(names[-1], tar_bytes(l))
        add("cfg.json", json.dumps(cfg).encode())
        for name, data in extra: add(name, data)
        add("manifest.json", json.dumps([{"Config": "cfg.json", "RepoTags": ["app:latest"],
            "Layers": manifest_layers or names}]).encode())
docker_save(w + "/image.tar", [layer1, layer2])
# OCI image layout: gzip layers under blobs/sha256, index.json -> manifest -> config, layers
with tarfile.open(w + "/oci.tar", "w") as t:
    def blob(data):
        d = hashlib.sha256(data).hexdigest()
        ti = tarfile.TarInfo("blobs/sha256/" + d); ti.size = len(data); t.addfile(ti, io.BytesIO(data))
        return "sha256:" + d
    ls = [blob(tar_bytes(l, gz=True)) for l in (layer1, layer2)]
    c = blob(json.dumps(config).encode())
    m = blob(json.dumps({"schemaVersion": 2, "config": {"digest": c},
                         "layers": [{"digest": d} for d in ls]}).encode())
    idx = json.dumps({"schemaVersion": 2, "manifests": [{"digest": m}]}).encode()
    ti = tarfile.TarInfo("index.json"); ti.size = len(idx); t.addfile(ti, io.BytesIO(idx))
hostile = {
    "dotdot": [layer1, [("file", "../escaped", b"x")]],
    "absolute": [[("file", "/tmp/nsmkit-absolute-escape", b"x")]],
    "abs-symlink": [[("sym", "out", w + "/outside"), ("file", "out/escaped", b"x")]],
    "rel-symlink": [[("dir", "d/"), ("sym", "d/up", "../../.."), ("file", "d/up/escaped", b"x")]],
    "hardlink-out": [[("hard", "passwd", "../../../../etc/passwd")]],
    "deep": [[("file", "/".join(["d"] * 70) + "/f", b"x")]],
    "whiteout-dotdot": [layer1, [("file", ".wh...", b"")]],
    "whiteout-dot": [layer1, [("file", "etc/.wh..", b"")]],
}
for name, layers in hostile.items():
    docker_save("%s/hostile-%s.tar" % (w, name), layers)
docker_save(w + "/hostile-manifest-path.tar", [layer1], manifest_layers=["../../outside.tar"])
docker_save(w + "/hostile-big.tar", [[("file", "big", b"\0" * 300000)]])
docker_save(w + "/hostile-links.tar", [[("file", "f", b"\0" * 50000)] +
                                       [("hard", "h%d" % i, "f") for i in range(10)]])
pax = io.BytesIO()   # a layer whose PAX header declares 100 GB for 5 bytes of data
with tarfile.open(fileobj=pax, mode="w", format=tarfile.PAX_FORMAT) as t:
    ti = tarfile.TarInfo("huge"); ti.size = 5; ti.pax_headers = {"size": "100000000000"}
    t.addfile(ti, io.BytesIO(b"12345"))
with tarfile.open(w + "/hostile-declared.tar", "w") as t:
    for name, data in (("l.tar", pax.getvalue()), ("cfg.json", json.dumps(config).encode()),
                       ("manifest.json", json.dumps([{"Config": "cfg.json", "Layers": ["l.tar"]}]).encode())):
        ti = tarfile.TarInfo(name); ti.size = len(data); t.addfile(ti, io.BytesIO(data))
with open(w + "/hostile-notar.tar", "wb") as f: f.write(b"this is not a tarball" * 100)
PYEOF
mkdir -p "$work/outside"
build "$work/img.eif" --image-tar "$work/image.tar" ||
    { fail "build-enclave --image-tar"; cat "$work/img.eif.err"; }
same=1
for p in PCR0 PCR1 PCR2; do
    [ "$(field "$work/img.eif.json" Measurements.$p)" = "$(field "$work/dir.eif.json" Measurements.$p)" ] || same=0
done
[ $same = 1 ] && ok "docker-save tarball (2 layers, .wh. file and opaque whiteouts, Entrypoint+Cmd, Env) = the same tree as a directory: identical PCR0/1/2" ||
    { fail "tarball and directory builds differ"
      mkdir -p "$work/xi" && "$bin/nsm-eif" extract "$work/img.eif" "$work/xi" > /dev/null &&
      (cd "$work/xi" && cpio -itv < ramdisk1 2>/dev/null | head -20); }
build "$work/img2.eif" --image-tar "$work/image.tar" --docker-uri app
cmp -s "$work/img.eif.json" "$work/img2.eif.json" &&
    ok "--docker-uri picks the image by RepoTag (app -> app:latest); deterministic" ||
    fail "--docker-uri build differs"
build "$work/oci.eif" --image-tar "$work/oci.tar" && cmp -s "$work/oci.eif.json" "$work/img.eif.json" &&
    ok "OCI image layout (gzip layers, index.json -> manifest -> config): the same PCRs" ||
    { fail "OCI build"; cat "$work/oci.eif.err"; }
build "$work/nouri.eif" --image-tar "$work/image.tar" --docker-uri other:1 2> /dev/null
[ $? = 48 ] && grep -q "no image tagged other:1" "$work/nouri.eif.err" &&
    ok "an unknown --docker-uri is refused (E48)" || fail "unknown uri: $(cat "$work/nouri.eif.err")"

expect_refused() { # NAME CODE [flags]
    name=$1; code=$2; shift 2
    build "$work/h-$name.eif" --image-tar "$work/hostile-$name.tar" "$@"
    rc=$?
    if [ $rc = 48 ] && grep -q "^\[ E48 \]" "$work/h-$name.eif.err" &&
       grep -q ": $code " "$work/h-$name.eif.err" && [ ! -e "$work/h-$name.eif" ]; then
        ok "hostile tarball ($name) refused: $(sed -n 's/^nsm-nitro-cli build-enclave: //p' "$work/h-$name.eif.err" | cut -c1-110)"
    else
        fail "hostile $name: exit $rc: $(cat "$work/h-$name.eif.err")"
    fi
}
expect_refused dotdot 6511
expect_refused absolute 6511
expect_refused abs-symlink 6511
expect_refused rel-symlink 6511
expect_refused hardlink-out 6511
expect_refused deep 6511
expect_refused whiteout-dotdot 6511
expect_refused whiteout-dot 6511
expect_refused manifest-path 6511
expect_refused big 6512 --max-image-bytes 200000
expect_refused links 6512 --max-image-bytes 200000
expect_refused declared 6510
expect_refused notar 6510
[ -z "$(ls -A "$work/outside")" ] && [ ! -e /tmp/nsmkit-absolute-escape ] && [ ! -e "$work/escaped" ] &&
    [ -z "$(ls -A "$TMPDIR")" ] &&
    ok "nothing written outside the tree, no temporary directory left" || fail "something escaped"

# ---- signed build, pcr, describe-eif's fields ---------------------------------------------------
openssl ecparam -name secp384r1 -genkey -noout -out "$work/key.pem" 2> /dev/null
openssl req -new -x509 -key "$work/key.pem" -sha384 -out "$work/cert.pem" -days 30 \
    -subj "/C=US/O=nsmkit tests/CN=signer" 2> /dev/null
echo '{"team": "enclaves", "build": 7}' > "$work/meta.json"
build "$work/signed.eif" --rootfs "$work/root" --signing-certificate "$work/cert.pem" \
    --private-key "$work/key.pem" --name app --version 1.2 --metadata "$work/meta.json" -- /bin/app ||
    { fail "signed build"; cat "$work/signed.eif.err"; }
"$cli" pcr --signing-certificate "$work/cert.pem" > "$work/pcr8.json" || fail "pcr --signing-certificate"
[ "$(keys "$work/pcr8.json")" = "PCR8" ] &&
    [ "$(field "$work/pcr8.json" PCR8)" = "$(field "$work/signed.eif.json" Measurements.PCR8)" ] &&
    ok "signed build: Measurements has PCR8 = pcr --signing-certificate's {\"PCR8\": ...}" ||
    fail "PCR8: $(cat "$work/pcr8.json") vs $(cat "$work/signed.eif.json")"
"$cli" pcr --input "$work/kernel" > "$work/pcr.json" || fail "pcr --input"
want=$( (head -c 48 /dev/zero; openssl dgst -sha384 -binary "$work/kernel") | openssl dgst -sha384 -r | cut -d' ' -f1)
[ "$(keys "$work/pcr.json")" = "PCR" ] && [ "$(field "$work/pcr.json" PCR)" = "$want" ] &&
    ok "pcr --input: {\"PCR\": SHA-384(48 zero bytes || SHA-384(file))}, as openssl computes it" ||
    fail "pcr --input: $(cat "$work/pcr.json") want $want"
"$cli" describe-eif --eif-path "$work/dir.eif" > "$work/de.json" || fail "describe-eif"
"$cli" describe-eif --eif-path "$work/signed.eif" > "$work/des.json" || fail "describe-eif signed"
[ "$(keys "$work/de.json")" = "EifVersion Measurements IsSigned CheckCRC ImageName ImageVersion Metadata" ] &&
    [ "$(keys "$work/des.json")" = "EifVersion Measurements IsSigned SigningCertificate CheckCRC SignatureCheck ImageName ImageVersion Metadata" ] &&
    [ "$(keys "$work/des.json" Metadata)" = "BuildTime BuildTool BuildToolVersion OperatingSystem KernelVersion DockerInfo build team" ] &&
    [ "$(field "$work/des.json" ImageName)" = app ] && [ "$(field "$work/des.json" ImageVersion)" = 1.2 ] &&
    [ "$(field "$work/des.json" Metadata.BuildTool)" = nsm-nitro-cli ] && [ "$(field "$work/des.json" Metadata.team)" = enclaves ] &&
    ok "describe-eif: nitro-cli's fields in its order (DescribeEifInfo), signed and unsigned; --name, --version, --metadata kept" ||
    fail "describe-eif keys: $(keys "$work/de.json") / $(keys "$work/des.json")"
"$cli" describe-eif --eif-path "$work/kernel" > /dev/null 2> "$work/bad.err"
[ $? = 35 ] && grep -q "^\[ E35 \]" "$work/bad.err" && grep -q "BAD_MAGIC" "$work/bad.err" &&
    ok "describe-eif of a non-image: E35 with nsm-eif's reason" || fail "describe-eif bad: $(cat "$work/bad.err")"
"$cli" build-enclave --docker-uri x --output-file "$work/n.eif" 2> "$work/usage.err"
[ $? = 2 ] && grep -q "no Docker" "$work/usage.err" &&
    ok "build-enclave with only --docker-uri says Docker is not used here (exit 2)" ||
    fail "usage: $(cat "$work/usage.err")"

# ---- run / describe / console / terminate with a stand-in for nsm-qemu run-eif ----------------
cat > "$work/fake-qemu" <<'EOF'
#!/bin/sh
echo "fake run-eif: $*"
sleep 300 &
i=0
while [ $i -lt 600 ]; do echo "console line $i"; i=$((i + 1)); sleep 0.5; done
EOF
chmod 755 "$work/fake-qemu"
export NSM_NITRO_CLI_QEMU="$work/fake-qemu"
t0=$(date +%s)
"$cli" run-enclave --eif-path "$work/dir.eif" --cpu-count 2 --memory 512 --enclave-cid 21 \
    --debug-mode > "$work/run.json" 2> "$work/run.err" || { fail "run-enclave"; cat "$work/run.err"; }
t1=$(date +%s)
[ "$(keys "$work/run.json")" = "EnclaveName EnclaveID ProcessID EnclaveCID NumberOfCPUs CPUIDs MemoryMiB" ] &&
    [ "$(field "$work/run.json" EnclaveName)" = dir ] && [ "$(field "$work/run.json" EnclaveCID)" = 21 ] &&
    [ $((t1 - t0)) -le 3 ] && grep -q "Started enclave with enclave-cid: 21, memory: 512 MiB, cpu-ids: \[0, 1\]" "$work/run.err" &&
    ok "run-enclave returns at once ($((t1 - t0)) s) with nitro-cli's JSON (EnclaveName from the file name)" ||
    fail "run-enclave: $(cat "$work/run.json" "$work/run.err")"
id=$(field "$work/run.json" EnclaveID)
pid=$(field "$work/run.json" ProcessID)
case "$id" in i-*-enc????????????????) ok "EnclaveID has nitro-cli's shape ($id)" ;; *) fail "id $id" ;; esac
printf '{"eif_path": "%s", "cpu_count": 1, "memory_mib": 256, "enclave_name": "quiet", "debug_mode": false}' \
    "$work/img.eif" > "$work/config.json"
"$cli" run-enclave --config "$work/config.json" > "$work/run2.json" 2> "$work/run2.err" ||
    fail "second run-enclave (--config)"
"$cli" run-enclave --eif-path "$work/dir.eif" --cpu-count 1 --memory 256 --enclave-cid 21 \
    > /dev/null 2> "$work/run3.err"
[ $? = 29 ] && grep -q "CID 21 is used" "$work/run3.err" && ok "a CID in use is refused" ||
    fail "CID reuse: $(cat "$work/run3.err")"
printf '{"eif_path": "%s", "cpu_count": 1, "memory_mib": -5}' "$work/dir.eif" > "$work/bad-config.json"
"$cli" run-enclave --config "$work/bad-config.json" > /dev/null 2> "$work/badcfg.err"
[ $? = 2 ] && grep -q "memory" "$work/badcfg.err" && ok "run-enclave --config with a negative memory_mib is refused" ||
    fail "bad config: $(cat "$work/badcfg.err")"
"$cli" describe-enclaves > "$work/desc.json" || fail "describe-enclaves"
[ "$(keys "$work/desc.json" 0)" = "EnclaveName EnclaveID ProcessID EnclaveCID NumberOfCPUs CPUIDs MemoryMiB State Flags Measurements" ] &&
    "$PY" -c 'import json,sys
d=json.load(open(sys.argv[1])); m={e["EnclaveName"]: e for e in d}
assert len(d)==2 and m["dir"]["Flags"]=="DEBUG_MODE" and m["quiet"]["Flags"]=="NONE"
assert m["dir"]["State"]=="RUNNING" and m["quiet"]["EnclaveCID"]==16
assert m["dir"]["Measurements"]["PCR0"]==json.load(open(sys.argv[2]))["Measurements"]["PCR0"]' \
        "$work/desc.json" "$work/dir.eif.json" &&
    ok "describe-enclaves: nitro-cli's fields in its order, Flags, State, Measurements, default CID 16 (the second from --config JSON)" ||
    fail "describe-enclaves: $(cat "$work/desc.json")"
quiet=$(field "$work/run2.json" EnclaveID)
"$cli" console --enclave-id "$quiet" > /dev/null 2> "$work/nodebug.err"
[ $? = 44 ] && grep -q "^\[ E44 \]" "$work/nodebug.err" && ok "console of a non-debug enclave: E44, as nitro-cli" ||
    fail "console non-debug: $(cat "$work/nodebug.err")"
"$cli" console --enclave-id "$id" --disconnect-timeout 2 > "$work/console.out" 2>&1
grep -q "^Successfully connected to the console." "$work/console.out" && grep -q "console line 1" "$work/console.out" &&
    grep -q "fake run-eif: run-eif --cid 21 --memory 512 --cpus 2 --timeout 9999999 --debug-mode $work/dir.eif" "$work/console.out" &&
    ok "console streams a debug enclave's console until --disconnect-timeout (run-eif's flags seen)" ||
    fail "console: $(head -5 "$work/console.out")"
"$cli" terminate-enclave --enclave-id i-00000000000000000-enc0000000000000000 > /dev/null 2> "$work/unknown.err"
[ $? = 11 ] && grep -q "no running enclave has the ID" "$work/unknown.err" &&
    ok "terminate-enclave of an unknown id says so (E11, as nitro-cli)" || fail "unknown: $(cat "$work/unknown.err")"
"$cli" terminate-enclave --enclave-id "$id" > "$work/term.json" 2> "$work/term.err"
[ "$(keys "$work/term.json")" = "EnclaveName EnclaveID Terminated" ] && [ "$(field "$work/term.json" Terminated)" = true ] &&
    grep -q "Successfully terminated enclave $id." "$work/term.err" &&
    ! ps -eo pgid=,stat= | awk -v g="$pid" '$1 == g && $2 !~ /^Z/' | grep -q . &&
    ok "terminate-enclave: nitro-cli's JSON, its whole process group stopped (the stand-in's child too)" ||
    fail "terminate: $(cat "$work/term.json" "$work/term.err")"
# two run-enclave at once: two different CIDs
"$cli" run-enclave --eif-path "$work/dir.eif" --cpu-count 1 --memory 64 > "$work/p1.json" 2> /dev/null &
p1=$!
"$cli" run-enclave --eif-path "$work/dir.eif" --cpu-count 1 --memory 64 > "$work/p2.json" 2> /dev/null
wait $p1
[ "$(field "$work/p1.json" EnclaveCID)" != "$(field "$work/p2.json" EnclaveCID)" ] &&
    [ "$(field "$work/p1.json" EnclaveName)" != "$(field "$work/p2.json" EnclaveName)" ] &&
    ok "two run-enclave at once: different CIDs and names ($(field "$work/p1.json" EnclaveName), $(field "$work/p2.json" EnclaveName))" ||
    fail "concurrent runs: $(cat "$work/p1.json" "$work/p2.json")"
"$cli" terminate-enclave --all > "$work/all.json" 2> /dev/null
"$cli" describe-enclaves > "$work/empty.json"
[ "$(cat "$work/empty.json")" = "[]" ] && [ -z "$(ls "$work/state")" ] &&
    ok "terminate-enclave --all: no enclave, no state left" || fail "after --all: $(cat "$work/empty.json")"
"$cli" run-enclave --eif-path "$work/kernel" --cpu-count 1 --memory 64 > /dev/null 2> "$work/runbad.err"
[ $? = 35 ] && [ -z "$(ls "$work/state")" ] &&
    ok "run-enclave of a malformed image: refused (E35) before anything starts" || fail "run bad: $(cat "$work/runbad.err")"
# an enclave that ends: at once (run-enclave says so, E36) or later (describe-enclaves)
printf '#!/bin/sh\necho "Kernel panic - not syncing: stand-in"\nexit 123\n' > "$work/dies-at-once"
printf '#!/bin/sh\necho booting\nsleep 1.5\necho "Kernel panic - not syncing: later"\nexit 123\n' > "$work/dies-later"
chmod 755 "$work/dies-at-once" "$work/dies-later"
NSM_NITRO_CLI_QEMU="$work/dies-at-once" "$cli" run-enclave --eif-path "$work/dir.eif" --cpu-count 1 \
    --memory 64 > /dev/null 2> "$work/dies1.err"
[ $? = 36 ] && grep -q "stand-in" "$work/dies1.err" && grep -q "exited with status 123" "$work/dies1.err" &&
    [ -z "$(ls "$work/state")" ] &&
    ok "an enclave process that ends at once: E36 with its console's last lines, no state left" ||
    fail "dies at once: $(cat "$work/dies1.err")"
NSM_NITRO_CLI_QEMU="$work/dies-later" "$cli" run-enclave --eif-path "$work/dir.eif" --cpu-count 1 \
    --memory 64 > /dev/null 2>&1 || fail "run-enclave (dies later)"
sleep 2.5
"$cli" describe-enclaves > "$work/ended.json" 2> "$work/ended.err"
[ "$(cat "$work/ended.json")" = "[]" ] && grep -q "has ended" "$work/ended.err" &&
    grep -q "not syncing: later" "$work/ended.err" && [ -z "$(ls "$work/state")" ] &&
    ok "an enclave that ended later: not listed, reported once with its console's last lines" ||
    fail "dies later: $(cat "$work/ended.json" "$work/ended.err")"
chmod 0755 "$work/state"
"$cli" describe-enclaves > /dev/null 2> "$work/perm.err"
[ $? = 7 ] && grep -q "mode 0700" "$work/perm.err" && ok "a state directory others can read is refused" ||
    fail "state dir perms: $(cat "$work/perm.err")"
chmod 0700 "$work/state"
unset NSM_NITRO_CLI_QEMU

# ---- the whole flow with one boot (needs nsm-qemu run-eif and the QEMU image) ----------------
if ! "$bin/nsm-qemu" run-eif --help > /dev/null 2>&1; then
    echo "SKIP: the whole flow: nsm-qemu run-eif is not in this build"
elif [ ! -f "$BUILD/qemu/image/vmlinuz" ]; then
    echo "SKIP: the whole flow: no QEMU image (make qemu-image)"
else
    sh tests/nitro_cli_boot.sh || failures=$((failures + 1))
fi

[ $failures -eq 0 ] || { echo "it_nitro_cli: $failures failure(s)"; exit 1; }
echo "it_nitro_cli: all passed"
