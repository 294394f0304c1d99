// SPDX-License-Identifier: Apache-2.0
// govsock: a Go program that speaks AF_VSOCK with raw system calls (the syscall package
// only, no cgo, no golang.org/x/sys), built with CGO_ENABLED=0: a static binary that only
// `nsm-vsock exec`'s seccomp supervisor can reach. Run by tests/it_vsock.sh.
//
//	govsock cid                     prints the local CID (IOCTL_VM_SOCKETS_GET_LOCAL_CID)
//	govsock selftest                accept in one goroutine, connect in another, refused port
//	govsock connect CID PORT MSG    connects, sends MSG, prints "echo <answer>"
//	govsock heartbeat               AWS init's heartbeat: 0xB7 to (3, 9000), 0xB7 back
//
// Every mode but cid first checks that the local CID is $VSOCK_TOOL_CID (the emulated
// one) and refuses to touch a socket otherwise.
package main

import (
	"fmt"
	"os"
	"strconv"
	"syscall"
	"unsafe"
)

const (
	afVsock     = 40
	cidAny      = 0xFFFFFFFF
	ioctlGetCID = 0x7b9
)

// struct sockaddr_vm of linux/vm_sockets.h
type sockaddrVM struct {
	Family   uint16
	Reserved uint16
	Port     uint32
	Cid      uint32
	Flags    uint8
	Zero     [3]uint8
}

func localCID() (uint32, error) {
	f, err := os.Open("/dev/vsock")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	var cid uint32
	_, _, e := syscall.Syscall(syscall.SYS_IOCTL, f.Fd(), ioctlGetCID, uintptr(unsafe.Pointer(&cid)))
	if e != 0 {
		return 0, e
	}
	return cid, nil
}

func requireEmulation() {
	want, _ := strconv.ParseUint(os.Getenv("VSOCK_TOOL_CID"), 10, 32)
	cid, err := localCID()
	if err != nil || want == 0 || uint64(cid) != want {
		fmt.Fprintf(os.Stderr, "govsock: local CID %d (%v) is not the emulated %d: refusing to run\n", cid, err, want)
		os.Exit(3)
	}
}

func sockCall(nr uintptr, fd int, sa *sockaddrVM) error {
	_, _, e := syscall.Syscall(nr, uintptr(fd), uintptr(unsafe.Pointer(sa)), unsafe.Sizeof(*sa))
	if e != 0 {
		return e
	}
	return nil
}

func vsockSocket() int {
	fd, err := syscall.Socket(afVsock, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		fmt.Println("FAIL socket:", err)
		os.Exit(1)
	}
	return fd
}

func connectTo(cid, port uint32) (int, error) {
	fd := vsockSocket()
	err := sockCall(syscall.SYS_CONNECT, fd, &sockaddrVM{Family: afVsock, Cid: cid, Port: port})
	if err != nil {
		syscall.Close(fd)
		return -1, err
	}
	return fd, nil
}

func accept(l int) (int, sockaddrVM, error) {
	var sa sockaddrVM
	n := uint32(unsafe.Sizeof(sa))
	r, _, e := syscall.Syscall6(syscall.SYS_ACCEPT4, uintptr(l), uintptr(unsafe.Pointer(&sa)),
		uintptr(unsafe.Pointer(&n)), syscall.SOCK_CLOEXEC, 0, 0)
	if e != 0 {
		return -1, sa, e
	}
	return int(r), sa, nil
}

func echo(fd int, msg []byte) string {
	syscall.Write(fd, msg)
	syscall.Shutdown(fd, syscall.SHUT_WR)
	buf := make([]byte, 4096)
	out := []byte{}
	for {
		n, err := syscall.Read(fd, buf)
		if n <= 0 || err != nil {
			break
		}
		out = append(out, buf[:n]...)
	}
	return string(out)
}

func selftest() int {
	l := vsockSocket()
	if err := sockCall(syscall.SYS_BIND, l, &sockaddrVM{Family: afVsock, Cid: cidAny, Port: 6000}); err != nil {
		fmt.Println("FAIL bind:", err)
		return 1
	}
	if err := syscall.Listen(l, 8); err != nil {
		fmt.Println("FAIL listen:", err)
		return 1
	}
	peer := make(chan sockaddrVM, 1)
	go func() {
		// a blocking accept on its own thread, while another thread connects
		c, sa, err := accept(l)
		if err != nil {
			fmt.Println("FAIL accept:", err)
			os.Exit(1)
		}
		peer <- sa
		buf := make([]byte, 64)
		n, _ := syscall.Read(c, buf)
		syscall.Write(c, buf[:n])
		syscall.Close(c)
	}()
	own, _ := localCID()
	fd, err := connectTo(own, 6000)
	if err != nil {
		fmt.Println("FAIL connect to self:", err)
		return 1
	}
	got := echo(fd, []byte("go"))
	sa := <-peer
	fmt.Printf("selftest echo %s peer %d\n", got, sa.Cid)
	if _, err := connectTo(own, 6001); err != syscall.ECONNREFUSED {
		fmt.Println("FAIL connect to an unused port:", err)
		return 1
	}
	fmt.Println("selftest refused ECONNREFUSED")
	return 0
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: govsock cid|selftest|connect CID PORT MSG|heartbeat")
		os.Exit(2)
	}
	switch os.Args[1] {
	case "cid":
		cid, err := localCID()
		fmt.Printf("local CID %d %v\n", cid, err)
		return
	case "selftest":
		requireEmulation()
		os.Exit(selftest())
	case "connect":
		requireEmulation()
		cid, _ := strconv.ParseUint(os.Args[2], 10, 32)
		port, _ := strconv.ParseUint(os.Args[3], 10, 32)
		fd, err := connectTo(uint32(cid), uint32(port))
		if err != nil {
			fmt.Println("connect:", err)
			os.Exit(1)
		}
		fmt.Println("echo", echo(fd, []byte(os.Args[4])))
	case "heartbeat":
		requireEmulation()
		fd, err := connectTo(3, 9000)
		if err != nil {
			fmt.Println("heartbeat connect:", err)
			os.Exit(1)
		}
		syscall.Write(fd, []byte{0xB7})
		b := make([]byte, 1)
		n, _ := syscall.Read(fd, b)
		if n != 1 || b[0] != 0xB7 {
			fmt.Println("heartbeat: no 0xB7 back")
			os.Exit(1)
		}
		fmt.Println("heartbeat ok")
	}
}
