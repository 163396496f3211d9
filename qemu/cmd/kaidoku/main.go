// Command kaidoku boots kaidoku images in QEMU and talks to them.
//
//	kaidoku build [-o file] pkg   build a program (package main on package unikernel) as an image
//	kaidoku run [flags] [pkg|image]  boot an image, or build pkg and boot it, with its console on stdout
//	kaidoku bench [flags]         the side-by-side benchmark (make bench)
//	kaidoku load [flags] [image]  drive an image's echo over a datagram bench
//	kaidoku latency [flags]       interrupt-to-wakeup table and plot from a running image
//	kaidoku check                 build every image and vet the GOOS=tamago packages
//	kaidoku profile [flags]       sample a running image's stacks into a pprof profile
//	kaidoku capture [-w FILE|-] [-type ETHERTYPE] [-c COUNT] [flags]
//	                              a running image's frames as a pcap file (tcpdump -r, Wireshark)
//
// run defaults to user-mode networking with the services forwarded to
// 127.0.0.1 (echo at 127.0.0.1:10007). Ctrl-C stops the VM; QEMU never
// outlives the command.
package main

import (
	"flag"
	"fmt"
	"os"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	var err error
	switch os.Args[1] {
	case "build":
		err = buildCmd(os.Args[2:])
	case "run":
		err = run(os.Args[2:])
	case "bench":
		err = benchCmd(os.Args[2:])
	case "load":
		err = loadCmd(os.Args[2:])
	case "latency":
		err = latencyCmd(os.Args[2:])
	case "check":
		err = checkCmd(os.Args[2:])
	case "profile":
		err = profileCmd(os.Args[2:])
	case "capture":
		err = captureCmd(os.Args[2:])
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "kaidoku:", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: kaidoku build [-o file] package | run [flags] [package|image] | bench [flags] | load [flags] [image] | latency [flags] | check | profile [flags] | capture [-w FILE|-] [-type ETHERTYPE] [-c COUNT] [flags]")
	flag.PrintDefaults()
	os.Exit(2)
}
