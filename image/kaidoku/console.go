//go:build tamago

package main

import (
	"fmt"
	"time"

	"github.com/kaidoku-net/kaidoku/board"
	"github.com/kaidoku-net/kaidoku/unikernel"
)

// consoleStats prints the driver's and NAPI's counters on the console
// every interval (kaidoku.stats.console=<interval>), one line each
// time, for modes without the stats service (the reflector) and for
// watching a guest from its console. Key=value, so tests can parse it.
func consoleStats(sys *unikernel.System, every time.Duration) {
	for range time.Tick(every) {
		d := sys.Device.Net.Stats()
		var polls, packets, irqs uint64
		for _, n := range sys.Device.Softnet.Stats().NAPIs {
			polls += n.Polls
			packets += n.Packets
			irqs += n.Interrupts
		}
		halts, _ := board.IdleStats()
		fmt.Printf("STATS rx_packets=%d rx_drops=%d tx_packets=%d tx_kicks=%d xdp_tx=%d xdp_tx_drops=%d interrupts=%d napi_irqs=%d polls=%d poll_packets=%d halts=%d frames_in_use=%d faults=%d\n",
			d.RX.Packets, d.RX.Drops, d.TX.Packets, d.TX.Kicks, d.RX.XDPTx, d.TX.XDPTxDrops, d.Interrupts, irqs, polls, packets, halts,
			sys.Device.Frames.InUse(), d.FaultCount())
	}
}
