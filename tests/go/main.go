// SPDX-License-Identifier: Apache-2.0
// devnsmgo: a Go program that talks to /dev/nsm the way the common Go NSM libraries do,
// with syscall.Syscall(SYS_IOCTL) and no libc, built with CGO_ENABLED=0 (a static binary
// the LD_PRELOAD shim cannot see). Run by tests/it_fuse.sh under `nsm-sim exec --device fuse`.
//
//	devnsmgo NONCE_HEX OUT_FILE   DescribePCR, an attestation with the nonce (written to
//	                              OUT_FILE for nsm-verify), and the driver's EMSGSIZE
//
// Prints "FAIL ..." per failed check and "devnsmgo: N checks, M failed"; exits 1 on failure.
package main

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"os"
	"runtime"
	"syscall"
	"unsafe"
)

// struct nsm_raw of linux/nsm.h and _IOWR(0x0A, 0, struct nsm_raw)
type nsmIovec struct{ Addr, Len uint64 }
type nsmRaw struct{ Request, Response nsmIovec }

const nsmIoctlRaw = 0xC0200A00

var checks, failures int

func check(ok bool, format string, args ...interface{}) {
	checks++
	if !ok {
		failures++
		fmt.Printf("FAIL "+format+"\n", args...)
	}
}

// One NSM_IOCTL_RAW: the response and the errno (0 on success).
func call(fd int, req []byte) ([]byte, syscall.Errno) {
	resp := make([]byte, 0x3000)
	raw := nsmRaw{Response: nsmIovec{uint64(uintptr(unsafe.Pointer(&resp[0]))), uint64(len(resp))}}
	if len(req) > 0 {
		raw.Request = nsmIovec{uint64(uintptr(unsafe.Pointer(&req[0]))), uint64(len(req))}
	}
	_, _, errno := syscall.Syscall(syscall.SYS_IOCTL, uintptr(fd), nsmIoctlRaw, uintptr(unsafe.Pointer(&raw)))
	runtime.KeepAlive(req)
	runtime.KeepAlive(resp)
	if errno != 0 {
		return nil, errno
	}
	return resp[:raw.Response.Len], 0
}

func text(s string) []byte { return append([]byte{0x60 | byte(len(s))}, s...) }

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: devnsmgo NONCE_HEX OUT_FILE")
		os.Exit(2)
	}
	nonce, err := hex.DecodeString(os.Args[1])
	if err != nil || len(nonce) == 0 || len(nonce) > 255 {
		fmt.Fprintln(os.Stderr, "devnsmgo: the nonce must be 1..255 bytes of hex")
		os.Exit(2)
	}
	fd, err := syscall.Open("/dev/nsm", syscall.O_RDWR|syscall.O_CLOEXEC, 0)
	if err != nil {
		fmt.Printf("FAIL open /dev/nsm: %v\n", err)
		os.Exit(1)
	}

	// {"DescribePCR": {"index": 0}} -> {"DescribePCR": {"lock": true, "data": 48 bytes}}
	req := append([]byte{0xa1}, text("DescribePCR")...)
	req = append(append(req, 0xa1), text("index")...)
	req = append(req, 0x00)
	resp, errno := call(fd, req)
	want := append([]byte{0xa1}, text("DescribePCR")...)
	want = append(append(want, 0xa2), text("lock")...)
	want = append(append(want, 0xf5), text("data")...)
	want = append(want, 0x58, 48)
	check(errno == 0 && len(resp) == len(want)+48 && bytes.HasPrefix(resp, want),
		"DescribePCR 0: errno %v, response %x", errno, resp)

	// {"Attestation": {"user_data": null, "nonce": bstr, "public_key": null}}
	req = append([]byte{0xa1}, text("Attestation")...)
	req = append(append(req, 0xa3), text("user_data")...)
	req = append(append(req, 0xf6), text("nonce")...)
	req = append(append(req, 0x58, byte(len(nonce))), nonce...)
	req = append(append(req, text("public_key")...), 0xf6)
	resp, errno = call(fd, req)
	prefix := append([]byte{0xa1}, text("Attestation")...)
	prefix = append(append(prefix, 0xa1), text("document")...)
	prefix = append(prefix, 0x59)
	ok := errno == 0 && len(resp) > len(prefix)+2 && bytes.HasPrefix(resp, prefix)
	var doc []byte
	if ok {
		n := int(resp[len(prefix)])<<8 | int(resp[len(prefix)+1])
		doc = resp[len(prefix)+2:]
		ok = n == len(doc) && bytes.Contains(doc, nonce)
	}
	check(ok, "Attestation: errno %v, %d bytes", errno, len(resp))
	if ok {
		check(os.WriteFile(os.Args[2], doc, 0o644) == nil, "cannot write %s", os.Args[2])
	}

	// The driver's limit: 4097 bytes is EMSGSIZE.
	_, errno = call(fd, make([]byte, 0x1001))
	check(errno == syscall.EMSGSIZE, "4097-byte request: %v, not EMSGSIZE", errno)
	// Another ioctl number: EINVAL (with a valid argument: the FUSE kernel copies the
	// argument in before the device sees the number).
	var other nsmRaw
	_, _, errno = syscall.Syscall(syscall.SYS_IOCTL, uintptr(fd), 0xC0200A01, uintptr(unsafe.Pointer(&other)))
	check(errno == syscall.EINVAL, "ioctl nr 1: %v, not EINVAL", errno)

	syscall.Close(fd)
	fmt.Printf("devnsmgo: %d checks, %d failed\n", checks, failures)
	if failures > 0 {
		os.Exit(1)
	}
}
