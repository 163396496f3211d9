//go:build tamago

// Command kaidoku is the kaidoku unikernel: it boots on QEMU microvm,
// reports its clock and devices, brings up the network and serves until
// the VM is stopped.
//
// Boot parameters (kernel command line, set with the launcher's -append):
//
//	clocktest=<duration>  print CLOCK start/end around a sleep of that long
//	exit=<code>           exit with that code once READY (tests)
//	panic                 panic once READY (tests)
package main

import (
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/kaidoku-net/kaidoku/board"
)

func main() {
	fmt.Println(board.Banner())
	fmt.Printf("lapic timer %.3f MHz\n", float64(board.LAPICTimerHz())/1e6)
	for _, s := range board.VirtioDevices() {
		fmt.Println(s)
	}
	fmt.Println("READY")
	selftest()
	select {}
}

// selftest runs the diagnostics the end-to-end tests ask for.
func selftest() {
	if v, ok := board.Param("clocktest"); ok {
		d, err := time.ParseDuration(v)
		if err == nil {
			// Equal-width lines, so that the host sees the same serial
			// delay on both and can compare the two clocks' rates.
			fmt.Printf("CLOCK start %020d\n", board.Nanotime())
			time.Sleep(d)
			fmt.Printf("CLOCK end   %020d\n", board.Nanotime())
		}
	}
	if v, ok := board.Param("exit"); ok {
		code, _ := strconv.Atoi(v)
		os.Exit(code)
	}
	if _, ok := board.Param("panic"); ok {
		panic("panic requested on the command line")
	}
}
