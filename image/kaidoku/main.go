//go:build tamago

package main

import (
	"fmt"
	"time"

	"github.com/kaidoku-net/kaidoku/board"
)

func main() {
	fmt.Println(board.Banner())
	fmt.Println("cmdline:", board.Cmdline())
	for _, s := range board.VirtioDevices() {
		fmt.Println(s)
	}
	fmt.Println("lapic timer Hz", board.LAPICTimerHz())
	fmt.Println("READY")
	t := time.Now()
	time.Sleep(2 * time.Second)
	fmt.Println("slept", time.Since(t))
	fmt.Println(board.IdleStats())
}
