// Package unikernel makes a Go program a kaidoku unikernel: one call at
// the start of main, [Start], brings up the board's virtio-net device,
// NAPI and kaidoku's network stack, points the standard library's net
// package at the stack (net.SocketFunc), reads the network configuration
// from the kernel command line, optionally starts the stats service, and
// prints READY on the console. From then on net.ListenUDP,
// net.ListenPacket("udp4", ...) and net.DialUDP serve through kaidoku.
//
// A complete program, a UDP echo on port 7:
//
//	package main
//
//	import (
//		"log"
//		"net"
//
//		"github.com/kaidoku-net/kaidoku/unikernel"
//	)
//
//	func main() {
//		unikernel.Start(unikernel.Options{WaitReady: true})
//		c, err := net.ListenPacket("udp4", ":7")
//		if err != nil {
//			log.Fatal(err)
//		}
//		unikernel.Ready() // serving: the launcher may send now
//		buf := make([]byte, 65536)
//		for {
//			n, from, err := c.ReadFrom(buf)
//			if err != nil {
//				log.Fatal(err)
//			}
//			c.WriteTo(buf[:n], from)
//		}
//	}
//
// Build and boot it, with host UDP port 10007 forwarded to the guest's 7:
//
//	kaidoku run -fwd 10007:7 ./path/to/echo
//
// # Configuration
//
// The interface's address, the gateway, how NAPI polls and the stats
// service are kaidoku.* words of the kernel command line (package
// image/config; kaidoku run -h lists them): kaidoku.addr=10.0.2.15/24,
// kaidoku.gw=10.0.2.2 and so on, QEMU's user-mode networking by default.
// A program sets its own defaults in [Options.Cmdline], and a build may
// add more with -ldflags "-X github.com/kaidoku-net/kaidoku/unikernel.builtinCmdline=...";
// the boot line overrides both.
//
// The words after a lone "--" are the program's arguments, as Linux hands
// them to init: Start sets os.Args to the program's name (Options.Name)
// and them, so the flag package works as in any program:
//
//	kaidoku run -append '-- -port 53' ./path/to/it
//
// # Lifetime
//
// When main returns, the VM powers off with exit status 0; os.Exit(n)
// powers it off with status n, and a panic prints the panic and the
// goroutine's stack on the console and powers off with status 2 (the
// board's exit hook, which QEMU's isa-debug-exit turns into the QEMU
// process's status, so `kaidoku run` exits with it).
//
// # What the net package does not do in the image
//
// TamaGo's net package sits between the program and kaidoku's sockets and
// does not pass everything through: ReadMsgUDP and WriteMsgUDP return
// "not implemented", SetReadBuffer and SetWriteBuffer ENOPROTOOPT, and
// LocalAddr reports the address the socket was asked for (port 0, or no
// address for net.DialUDP) rather than the one it got. A program that
// needs these uses kaidoku's socket API directly: System.Stack.Socket
// (package netstack/socket: RecvMsg with its flags, SendTo, LocalAddr,
// SetsockoptInt for SO_RCVBUF).
//
// # gVisor
//
// Built with the gvisor tag (kaidoku build -tags gvisor, or go tool
// tamago build -tags gvisor), the program's sockets are gVisor's netstack
// on kaidoku's driver and NAPI (package image/gvisornet) instead of
// kaidoku's: System.Stack is then nil, and the standard library's net
// package is the way to the network. The benchmark runs its service
// programs so, to compare the two stacks on the same program.
//
// # Other systems
//
// The package also builds for Linux and every other GOOS, where [Start]
// and [Ready] do nothing and the kernel's sockets serve: the same program
// runs as a unikernel and as an ordinary process.
//
// The name: the package is what turns a program into a unikernel, and
// "runtime" would shadow the standard library's package of that name in
// the programs that import it.
package unikernel
