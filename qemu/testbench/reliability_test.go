package testbench

import (
	"bytes"
	"encoding/binary"
	"net"
	"net/netip"
	"testing"
	"time"
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
	p := b.StartEchoProbe(netip.AddrPortFrom(tester, 5000), 7, 64, 50*time.Millisecond)
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

const statsSample = `== snmp
Ip: Forwarding DefaultTTL InReceives InHdrErrors InAddrErrors ForwDatagrams InUnknownProtos InDiscards InDelivers OutRequests OutDiscards OutNoRoutes ReasmTimeout ReasmReqds ReasmOKs ReasmFails FragOKs FragFails FragCreates OutTransmits
Ip: 2 64 1519435 0 0 0 0 0 1519435 13 0 0 0 0 0 0 1 0 5 17
Udp: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors SndbufErrors InCsumErrors IgnoredMulti MemErrors
Udp: 680294 0 839141 13 839141 0 0 0 0
== netstat
IpExt: InNoRoutes InTruncatedPkts InMcastPkts OutMcastPkts InBcastPkts OutBcastPkts InOctets OutOctets InMcastOctets OutMcastOctets InBcastOctets OutBcastOctets InCsumErrors InNoECTPkts InECT1Pkts InECT0Pkts InCEPkts ReasmOverlaps
IpExt: 0 0 0 0 0 0 139787588 9612 0 0 0 0 0 1519435 0 0 0 7
== udp
   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops            
  444: 00000000:15B3 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 3 2 0000000000000000 0             
 1989: 00000000:1BBC 00000000:0000 07 00000000:00000A40 00:00000000 00000000     0        0 5 2 0000000000000000 839141        
== dev
2: eth0: mtu 1500
    link/ether 52:54:00:12:00:01
    RX:  bytes packets errors dropped  missed   mcast
    161059798 1519437 0 3 0 0
    RX errors:  length    crc   frame    fifo overrun otherhost
    0 0 0 0 0 4
    TX:  bytes packets errors dropped carrier collsns
    9976 20 0 0 0 0
link up interrupts 16595 spurious 9 config_changes 0 resets 0 refill_runs 0 reflected 0
rx_queue_0: packets 1519437 bytes 161059798 drops 0 kicks 8194 calls 16563 posted 252/256
tx_queue_0: packets 20 bytes 9976 kicks 16 calls 14 stops 0 wakes 0 in_flight 0/256 backlog 0 backlog_drops 0 link_drops 0
rx_length_errors 0 rx_frame_errors 0 rx_dropped 0 tx_dropped 0 tx_fifo_errors 0
faults: used_id_range 0 used_unposted 0 used_duplicate 0 used_len 0 used_idx_jump 0 device_reset 0 needs_reset 2
== napi
softnet: processed 0 dropped 0 time_squeeze 150 runs 36031 wakeups 16560 busy_loops 0
== drops
SOCKET_RCVBUFF 839141
CONSUMED 680296
refused stats 3 agent 1; agent malformed 2
== pools
pool frames size 2048 count 8192 in_use 252 peak 338 exhausted 0 double_free 0
pool large size 65664 count 64 in_use 0 peak 1 exhausted 0 double_free 0
== latency
latency total count=676885 p50=3801087 p90=18874367 p99=50331647 p999=88080383 max=5530215733
buckets total 34815:1
== mem
mem_in_use_bytes 26592288
go_heap_inuse 3817472 go_stack_inuse 458752 go_sys 9711616 dma_reserved 20993056 goroutines 9 gc 0
`

func TestParseStats(t *testing.T) {
	s := ParseStats(statsSample)
	for k, want := range map[string]int64{"Ip.InReceives": 1519435, "Ip.FragCreates": 5, "Udp.RcvbufErrors": 839141, "IpExt.ReasmOverlaps": 7} {
		if s.SNMP[k] != want {
			t.Errorf("%s = %d, want %d", k, s.SNMP[k], want)
		}
	}
	if u, ok := s.Socket(7100); !ok || u.Drops != 839141 || u.RxQueue != 0xa40 {
		t.Errorf("socket 7100: %+v %v", u, ok)
	}
	for k, want := range map[string]int64{"link": 1, "interrupts": 16595, "rx.packets": 1519437, "rx.posted": 252, "rx.size": 256,
		"tx.in_flight": 0, "tx.size": 256, "tx.link_drops": 0, "fault.needs_reset": 2, "stack.rx_packets": 1519437,
		"stack.rx_dropped": 3, "stack.rx_otherhost": 4, "stack.tx_packets": 20, "rx_length_errors": 0} {
		if v, ok := s.Dev[k]; !ok || v != want {
			t.Errorf("dev %s = %d (%v), want %d", k, v, ok, want)
		}
	}
	if s.Napi["time_squeeze"] != 150 || s.Drops["SOCKET_RCVBUFF"] != 839141 || s.Drops["refused.stats"] != 3 ||
		s.Drops["refused.agent"] != 1 || s.Drops["agent.malformed"] != 2 {
		t.Errorf("napi %v drops %v", s.Napi, s.Drops)
	}
	if s.Pool("frames", "in_use") != 252 || s.Pool("large", "peak") != 1 || s.Mem["goroutines"] != 9 || s.Mem["mem_in_use_bytes"] != 26592288 {
		t.Errorf("pools %v mem %v", s.Pools, s.Mem)
	}
	if l := s.Latency["total"]; l.Count != 676885 || l.P99 != 50331647 {
		t.Errorf("latency %+v", l)
	}
}
