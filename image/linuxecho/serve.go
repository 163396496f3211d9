//go:build linux

package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync/atomic"
	"syscall"
	"unsafe"
)

// Echo counters, reported by the stats service.
var (
	echoed     atomic.Uint64
	echoErrors atomic.Uint64
)

// bindUDP returns a blocking UDP socket bound to 0.0.0.0:port. It is a
// plain file descriptor, never handed to Go's netpoller.
func bindUDP(port int) (int, error) {
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_DGRAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Port: port}); err != nil {
		syscall.Close(fd)
		return -1, fmt.Errorf("bind udp/%d: %v", port, err)
	}
	return fd, nil
}

// serveEcho sends every datagram back to where it came from (RFC 862):
// blocking recvfrom, sendto, nothing else. The raw system calls keep the
// peer's address in a fixed buffer, so the loop does not allocate (the
// syscall package's Recvfrom allocates a Sockaddr per call) and the
// garbage collector stays out of the measurement. The goroutine keeps its
// OS thread, like a C server's one thread.
func serveEcho(fd int) {
	runtime.LockOSThread()
	buf := make([]byte, 65536)
	var peer syscall.RawSockaddrAny
	for {
		peerLen := uint32(syscall.SizeofSockaddrAny)
		n, _, e := syscall.Syscall6(syscall.SYS_RECVFROM, uintptr(fd),
			uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)), 0,
			uintptr(unsafe.Pointer(&peer)), uintptr(unsafe.Pointer(&peerLen)))
		if e != 0 {
			if e != syscall.EINTR {
				echoErrors.Add(1)
			}
			continue
		}
		_, _, e = syscall.Syscall6(syscall.SYS_SENDTO, uintptr(fd),
			uintptr(unsafe.Pointer(&buf[0])), n, 0,
			uintptr(unsafe.Pointer(&peer)), uintptr(peerLen))
		if e != 0 {
			echoErrors.Add(1)
			continue
		}
		echoed.Add(1)
	}
}

// serveStats answers every datagram with report(): the same blocking
// recvfrom/sendto as the echo, off the measured path. agent may be nil.
func serveStats(fd int, agent *agentServer) {
	runtime.LockOSThread()
	buf := make([]byte, 2048)
	for {
		_, from, err := syscall.Recvfrom(fd, buf, 0)
		if err != nil || from == nil {
			continue
		}
		syscall.Sendto(fd, report(agent), 0, from)
	}
}

// report is the stats service's reply, "key value" lines followed by
// /proc/net/snmp as the kernel prints it.
func report(agent *agentServer) []byte {
	var b bytes.Buffer
	var uts syscall.Utsname
	release := "?"
	if syscall.Uname(&uts) == nil {
		release = utsString(uts.Release[:])
	}
	total, free, avail := meminfo()
	fmt.Fprintf(&b, "peer linux\nkernel %s\nuptime_seconds %.3f\n", release, uptime())
	fmt.Fprintf(&b, "mem_total_bytes %d\nmem_free_bytes %d\nmem_available_bytes %d\nmem_in_use_bytes %d\n", total, free, avail, total-avail)
	fmt.Fprintf(&b, "echo_datagrams %d\necho_errors %d\n", echoed.Load(), echoErrors.Load())
	if agent != nil {
		fmt.Fprintf(&b, "agent_served %d\nagent_refused %d\nagent_malformed %d\n",
			agent.served.Load(), agent.refused.Load(), agent.badReqs.Load())
	}
	if snmp, err := os.ReadFile("/proc/net/snmp"); err == nil {
		b.Write(snmp)
	}
	return b.Bytes()
}

// meminfo returns MemTotal, MemFree and MemAvailable in bytes.
func meminfo() (total, free, avail uint64) {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0, 0, 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var kb uint64
		k, v, _ := strings.Cut(sc.Text(), ":")
		fmt.Sscan(v, &kb)
		switch k {
		case "MemTotal":
			total = kb << 10
		case "MemFree":
			free = kb << 10
		case "MemAvailable":
			avail = kb << 10
		}
	}
	return total, free, avail
}

func utsString(f []int8) string {
	b := make([]byte, 0, len(f))
	for _, c := range f {
		if c == 0 {
			break
		}
		b = append(b, byte(c))
	}
	return string(b)
}
