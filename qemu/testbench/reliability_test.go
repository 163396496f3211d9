package testbench

import (
	"bytes"
	"encoding/binary"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/kaidoku-net/kaidoku/image/stats"
	"github.com/kaidoku-net/kaidoku/napi"
	"github.com/kaidoku-net/kaidoku/netstack"
	"github.com/kaidoku-net/kaidoku/netstack/skb"
	"github.com/kaidoku-net/kaidoku/virtio"
)

// A flood into a "QEMU" that does not read: what the host kernel cannot
// queue it drops, and BackendSocket counts it; once everything is read,
// sent = read + dropped, exactly. With a backlog limit the bench waits
// instead and nothing is dropped.
func TestFloodBackendAccounting(t *testing.T) {
	for _, tc := range []struct {
		name    string
		backlog int64
	}{{"blind", 0}, {"held back", 32 << 10}} {
		t.Run(tc.name, func(t *testing.T) {
			b, nd, err := Listen(MAC{2, 0, 0, 0, 0, 1}, guest)
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: nd.GuestSide})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetReadBuffer(64 << 10)
			read := 0
			reader := func(stop <-chan struct{}) chan struct{} {
				done := make(chan struct{})
				go func() {
					defer close(done)
					buf := make([]byte, 2048)
					seq := uint64(0)
					for {
						c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
						n, _, err := c.ReadFromUDP(buf)
						if err != nil {
							select {
							case <-stop:
								return
							default:
								continue
							}
						}
						p := Parse(buf[:n])
						if len(p.UDPData) < 8 {
							t.Errorf("datagram of %d bytes", len(p.UDPData))
							continue
						}
						// In order, with gaps only where the kernel dropped.
						if s := binary.BigEndian.Uint64(p.UDPData); s <= seq {
							t.Errorf("sequence %d after %d", s, seq)
						} else {
							seq = s
						}
						read++
					}
				}()
				return done
			}
			const count = 20000
			var stop chan struct{}
			var done chan struct{}
			if tc.backlog > 0 {
				stop = make(chan struct{})
				done = reader(stop)
			}
			f := b.StartFlood(FloodConfig{Src: netip.AddrPortFrom(tester, 5000), Port: 9, Size: 64, Count: count, Backlog: tc.backlog})
			r := f.Wait()
			if tc.backlog == 0 {
				stop = make(chan struct{})
				done = reader(stop)
			}
			deadline := time.Now().Add(10 * time.Second)
			for {
				hs, err := b.BackendSocket()
				if err != nil {
					t.Fatal(err)
				}
				if hs.RxQueue == 0 || time.Now().After(deadline) {
					break
				}
				time.Sleep(10 * time.Millisecond)
			}
			time.Sleep(100 * time.Millisecond)
			close(stop)
			<-done
			fc, err := b.FrameCounts()
			if err != nil {
				t.Fatal(err)
			}
			if r.Sent != count || fc.Sent != count {
				t.Fatalf("flood sent %d, bench counts %d", r.Sent, fc.Sent)
			}
			if uint64(read)+uint64(fc.Backend.Drops) != count {
				t.Fatalf("sent %d, read %d, dropped %d", count, read, fc.Backend.Drops)
			}
			if tc.backlog > 0 && fc.Backend.Drops != 0 {
				t.Fatalf("held back, yet %d dropped (holds %d)", fc.Backend.Drops, r.Holds)
			}
			if tc.backlog == 0 && fc.Backend.Drops == 0 {
				t.Fatal("nothing dropped: the test did not overflow the socket")
			}
			t.Logf("sent %d at %.0f/s: read %d, dropped %d, holds %d", r.Sent, r.PPS(), read, fc.Backend.Drops, r.Holds)
		})
	}
}

func TestEchoProbePhases(t *testing.T) {
	b, nd, err := Listen(MAC{2, 0, 0, 0, 0, 1}, guest)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	fakeGuest(t, nd.GuestSide, nd.BenchSide, 5)
	p := b.StartEchoProbe(EchoProbeOptions{Src: netip.AddrPortFrom(tester, 5000), Port: 7, Size: 64, Timeout: 50 * time.Millisecond})
	p.Mark("one")
	time.Sleep(200 * time.Millisecond)
	p.Mark("two")
	p.SetGap(20 * time.Millisecond)
	time.Sleep(200 * time.Millisecond)
	names, res := p.Stop()
	if len(names) != 3 || names[1] != "one" || names[2] != "two" {
		t.Fatalf("phases %v", names)
	}
	lost := 0
	for _, n := range names[1:] {
		r := res[n]
		if r.Sent == 0 || r.Sent != r.Received+r.Lost || len(r.RTTs) != r.Received {
			t.Fatalf("%s: %+v", n, r)
		}
		lost += r.Lost
	}
	if lost == 0 {
		t.Fatal("the fake guest's drops went unnoticed")
	}
	if res["two"].Sent > 12 {
		t.Fatalf("a 20 ms gap sent %d requests in 200 ms", res["two"].Sent)
	}
}

func TestMutator(t *testing.T) {
	b := &Bench{MAC: MAC{2, 0, 0, 0, 0, 9}, GuestMAC: MAC{2, 0, 0, 0, 0, 1}, GuestIP: guest}
	m1, m2 := NewMutator(b, 42), NewMutator(b, 42)
	for i := 0; i < 20000; i++ {
		f1, k1 := m1.Next()
		f2, k2 := m2.Next()
		if len(f1) == 0 {
			t.Fatalf("frame %d (%s) is empty: QEMU's datagram backend would stop", i, k1)
		}
		if k1 != k2 || !bytes.Equal(f1, f2) {
			t.Fatalf("frame %d differs for the same seed: %s, %s", i, k1, k2)
		}
	}
	if len(m1.Counts) < 50 {
		t.Fatalf("only %d kinds of damage", len(m1.Counts))
	}
}

// snapshotText renders a snapshot as the image's stats service does.
func snapshotText(t *testing.T, s *stats.Snapshot) string {
	t.Helper()
	var b bytes.Buffer
	if err := stats.WriteCounters(&b, s); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func imageSnapshot() *stats.Snapshot {
	c := &netstack.Counters{}
	c.Ip.InReceives, c.Udp.RcvbufErrors, c.Drop.SocketRcvbuff = 1519435, 839141, 839141
	c.Sockets = []netstack.UDPSocket{{Inode: 4, LocalPort: 7100, RxQueue: 0xa40, Drops: 839141}}
	return &stats.Snapshot{
		Stack:    c,
		Dev:      &virtio.Stats{RX: virtio.RxQueueStats{Posted: 252, Size: 256}, TX: virtio.TxQueueStats{InFlight: 3, Backlog: 1}, LinkUp: true},
		NAPI:     &napi.Stats{TimeSqueeze: 150},
		Pools:    map[string]skb.PoolStats{"frames": {Size: 2048, Count: 8192, InUse: 260, PeakInUse: 338}, "large": {PeakInUse: 1}},
		IRQ:      &stats.IRQ{},
		Services: &stats.Services{Stats: stats.StatsService{Refused: 3}, Agent: &stats.AgentService{Refused: 1, Malformed: 2}},
		Latency:  &stats.Latency{Total: stats.Histogram{Count: 676885, P99: 50331647}},
		Mem:      &stats.Mem{InUseBytes: 26592288, Goroutines: 9},
	}
}

// The bench reads the image's counters by name and type from the machine
// form, and refuses a reply that lacks a part the image always has.
func TestParseStats(t *testing.T) {
	s, err := ParseStats(snapshotText(t, imageSnapshot()))
	if err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]int64{"Ip.InReceives": 1519435, "Udp.RcvbufErrors": 839141, "Drop.SOCKET_RCVBUFF": 839141,
		"dev.rx.posted": 252, "dev.link_up": 1, "napi.time_squeeze": 150, "svc.stats.refused": 3, "svc.agent.refused": 1,
		"svc.agent.malformed": 2, "pool.frames.in_use": 260, "pool.large.peak_in_use": 1, "mem.goroutines": 9,
		"mem.in_use_bytes": 26592288, "latency.total.p99_ns": 50331647} {
		if v := s.Counter(k); v != want {
			t.Errorf("%s = %d, want %d", k, v, want)
		}
	}
	if u, ok := s.Socket(7100); !ok || u.Drops != 839141 || u.RxQueue != 0xa40 {
		t.Errorf("socket 7100: %+v %v", u, ok)
	}
	if n := s.FramesOutside(); n != 260-252-3-1 {
		t.Errorf("frames outside the driver: %d", n)
	}
	if s.Latency.Total.Count != 676885 {
		t.Errorf("latency %+v", s.Latency.Total)
	}
	func() {
		defer func() {
			if recover() == nil {
				t.Error("Counter of an unknown name did not panic")
			}
		}()
		s.Counter("Udp.NoSuchCounter")
	}()

	// kaidoku.trace=off: no latency histograms, the rest as usual.
	noTrace := imageSnapshot()
	noTrace.Latency = nil
	if s, err := ParseStats(snapshotText(t, noTrace)); err != nil || s.Latency != nil || s.Counter("Ip.InReceives") != 1519435 {
		t.Errorf("a reply without latency: %v", err)
	}

	noStack := imageSnapshot()
	noStack.Stack = nil
	noAgent := imageSnapshot()
	noAgent.Mem = nil
	for _, text := range []string{snapshotText(t, noStack), snapshotText(t, noAgent),
		strings.Replace(snapshotText(t, imageSnapshot()), "dev.rx.posted", "dev.rx.post", 1), "== snmp\nIp: 1\n"} {
		if _, err := ParseStats(text); err == nil {
			t.Errorf("parsed an incomplete reply:\n%s", text)
		}
	}
}

// /proc/net/sockstat is read by key, and a missing key is an error.
func TestParseSockstat(t *testing.T) {
	good := "UDP: inuse 3 mem 2\nUDPLITE: inuse 0\nRAW: inuse 0\nFRAG: inuse 1 memory 2624\n"
	s, err := parseSockstat(good)
	if err != nil || s.UDPInUse != 3 || s.UDPMemPages != 2 || s.FragQueues != 1 || s.FragMemory != 2624 {
		t.Fatalf("%+v %v", s, err)
	}
	for _, bad := range []string{
		"UDP: inuse 3 mem 2\n",
		"UDP: inuse 3 memory 2\nFRAG: inuse 1 memory 2624\n",
		"UDP: inuse 3 mem x\nFRAG: inuse 1 memory 2624\n",
		"UDP: inuse 3 mem\nFRAG: inuse 1 memory 2624\n",
	} {
		if s, err := parseSockstat(bad); err == nil {
			t.Errorf("%q parsed: %+v", bad, s)
		}
	}
}

func TestParseConsoleStats(t *testing.T) {
	good := "STATS rx_packets=10 rx_drops=0 tx_packets=10 tx_kicks=3 xdp_tx=10 interrupts=4 napi_irqs=4 polls=5 poll_packets=10 halts=99 frames_in_use=256 faults=0"
	m, err := ParseConsoleStats(good)
	if err != nil || m["rx_packets"] != 10 || m["frames_in_use"] != 256 || len(m) != len(ConsoleStatsKeys) {
		t.Fatalf("%v %v", m, err)
	}
	for _, bad := range []string{
		strings.Replace(good, "rx_drops=0 ", "", 1),
		strings.Replace(good, "rx_drops=0", "rx_drop=0", 1),
		strings.Replace(good, "halts=99", "halts=x", 1),
		strings.Replace(good, "halts=99", "halts 99", 1),
		good + " polls=5",
		"virtio-net: link up: true",
	} {
		if _, err := ParseConsoleStats(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}
