// Command rtprog is an ordinary program on package unikernel, for the
// end-to-end tests: its argument (after "--" on the kernel command line)
// says what it does.
//
//	return        READY, then main returns
//	exit N        os.Exit(N)
//	panic         panic
//	echo          a UDP echo on port 7 through the standard library
//	time          print time.Now() as Unix nanoseconds, then return
//
// It builds for Linux as well, where unikernel does nothing.
package main

import (
	"fmt"
	"log"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/kaidoku-net/kaidoku/unikernel"
)

func main() {
	// The arguments are the kernel command line's, set by Start.
	unikernel.Start(unikernel.Options{Name: "rtprog", WaitReady: true})
	fmt.Printf("rtprog: args %q\n", os.Args[1:])
	mode := "return"
	if len(os.Args) > 1 {
		mode = os.Args[1]
	}
	if mode != "echo" {
		unikernel.Ready()
	}
	switch mode {
	case "return":
		return
	case "exit":
		n, err := strconv.Atoi(os.Args[2])
		if err != nil {
			log.Fatal(err)
		}
		os.Exit(n)
	case "time":
		fmt.Printf("rtprog: time %d\n", time.Now().UnixNano())
	case "panic":
		panic("rtprog asked to panic")
	case "echo":
		echo()
	default:
		log.Fatalf("unknown mode %q", mode)
	}
}

func echo() {
	c, err := net.ListenPacket("udp4", ":7")
	if err != nil {
		log.Fatal(err)
	}
	unikernel.Ready()
	buf := make([]byte, 65536)
	for {
		n, from, err := c.ReadFrom(buf)
		if err != nil {
			log.Fatal(err)
		}
		if _, err := c.WriteTo(buf[:n], from); err != nil {
			log.Print(err)
		}
	}
}
