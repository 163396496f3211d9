package ether

import (
	"fmt"
	"sync"
	"testing"

	"github.com/kaidoku-net/kaidoku/netstack/internal/mib"
	"github.com/kaidoku-net/kaidoku/netstack/internal/wire"
	"github.com/kaidoku-net/kaidoku/netstack/skb"
)

type nullLink struct{}

func (nullLink) Transmit(b *skb.Buffer) error { b.Free(); return nil }
func (nullLink) MAC() [6]byte                 { return [6]byte{2, 0, 0, 0, 0, 1} }
func (nullLink) MTU() int                     { return 1500 }
func (nullLink) Headroom() int                { return 0 }

func TestDeviceTable(t *testing.T) {
	n := NewNet(new(mib.MIB), new(sync.Mutex))
	eth, err := n.NewDevice(nullLink{}, 2, "eth0")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		idx  int
		name string
		want *Device
	}{
		{1, "lo", n.Loopback()},
		{2, "eth0", eth},
		{3, "eth1", nil},
	} {
		if got := n.GetByIndex(c.idx); got != c.want {
			t.Errorf("index %d: %v", c.idx, got)
		}
		if got := n.GetByName(c.name); got != c.want {
			t.Errorf("name %q: %v", c.name, got)
		}
	}
	lo := n.Loopback()
	if !lo.IsLoopback() || eth.IsLoopback() || lo.MTU != LoopbackMTU || lo.MAC != (wire.MAC{}) {
		t.Errorf("lo %+v", lo)
	}
	for _, c := range []struct {
		idx  int
		name string
	}{{1, "eth1"}, {2, "eth1"}, {3, "lo"}, {3, "eth0"}, {0, "eth1"}, {3, ""}, {3, "a-name-too-long-for-ifnamsiz"}} {
		if _, err := n.NewDevice(nullLink{}, c.idx, c.name); err == nil {
			t.Errorf("NewDevice(%d, %q) succeeded", c.idx, c.name)
		}
	}
}

// netif_rx queues at most netdev_max_backlog+1 packets; past that it
// drops, counting softnet_stat's dropped, the device's rx_dropped and
// SKB_DROP_REASON_CPU_BACKLOG. process_backlog hands at most its quota
// to the protocol handler per call.
func TestBacklog(t *testing.T) {
	m := new(mib.MIB)
	n := NewNet(m, new(sync.Mutex))
	pool, err := skb.NewPool("t", 128, MaxBacklog+10, skb.HeapMemory)
	if err != nil {
		t.Fatal(err)
	}
	got := 0
	n.AddPack(wire.EthPIP, func(b *skb.Buffer) {
		if b.Ifindex != LoopbackIfindex || b.PktType != skb.PacketLoopback {
			t.Errorf("ifindex %d type %d", b.Ifindex, b.PktType)
		}
		got++
		b.Free()
	})
	lo := n.Loopback()
	for i := 0; i < MaxBacklog+3; i++ {
		b := pool.Get()
		b.Put(20)
		b.Protocol = wire.EthPIP
		lo.DevLoopbackXmit(b)
	}
	if n.BacklogLen() != MaxBacklog+1 {
		t.Fatalf("backlog %d", n.BacklogLen())
	}
	if m.Softnet.Dropped.Load() != 2 || lo.Stats.RxDropped.Load() != 2 || m.Drops[mib.DropCPUBacklog].Load() != 2 {
		t.Fatalf("dropped %d, rx_dropped %d, CPU_BACKLOG %d",
			m.Softnet.Dropped.Load(), lo.Stats.RxDropped.Load(), m.Drops[mib.DropCPUBacklog].Load())
	}
	if w := n.ProcessBacklog(BacklogWeight); w != BacklogWeight || got != BacklogWeight {
		t.Fatalf("poll did %d, delivered %d", w, got)
	}
	n.DoSoftirq()
	if got != MaxBacklog+1 || n.BacklogLen() != 0 || pool.InUse() != 0 {
		t.Fatalf("delivered %d, left %d, in use %d", got, n.BacklogLen(), pool.InUse())
	}
	if m.Softnet.Processed.Load() != MaxBacklog+1 {
		t.Fatalf("processed %d", m.Softnet.Processed.Load())
	}
}

// enqueue_to_backlog on a NIC: whatever the burst, the backlog keeps the
// first netdev_max_backlog+1 packets; each one past that is freed with
// SKB_DROP_REASON_CPU_BACKLOG and counted in softnet_stat's dropped and
// the rx_dropped of the device it arrived on (not lo's). The packets
// kept are delivered in order, each on its own device.
func TestNetifRxBacklogLimit(t *testing.T) {
	for _, burst := range []int{1, BacklogWeight + 1, MaxBacklog, MaxBacklog + 1, MaxBacklog + 2, MaxBacklog + 40} {
		t.Run(fmt.Sprint(burst), func(t *testing.T) {
			m := new(mib.MIB)
			n := NewNet(m, new(sync.Mutex))
			eth, err := n.NewDevice(nullLink{}, 2, "eth0")
			if err != nil {
				t.Fatal(err)
			}
			pool, err := skb.NewPool("t", 128, burst, skb.HeapMemory)
			if err != nil {
				t.Fatal(err)
			}
			var got []int
			n.AddPack(wire.EthPIP, func(b *skb.Buffer) {
				if b.Ifindex != eth.Ifindex || b.PktType != skb.PacketBroadcast {
					t.Errorf("ifindex %d type %d", b.Ifindex, b.PktType)
				}
				got = append(got, int(b.Data()[0])<<8|int(b.Data()[1]))
				b.Free()
			})
			// The device a packet is processed on shows in its taps.
			var tapped [2]int
			eth.AddTap(func([]byte, bool) { tapped[1]++ })
			n.Loopback().AddTap(func([]byte, bool) { tapped[0]++ })
			kept := min(burst, MaxBacklog+1)
			for i := 0; i < burst; i++ {
				b := pool.Get()
				p := b.Put(20)
				p[0], p[1] = byte(i>>8), byte(i)
				b.Protocol = wire.EthPIP
				b.PktType = skb.PacketBroadcast
				if q := n.NetifRx(eth, b); q != (i < kept) {
					t.Fatalf("packet %d: queued %v", i, q)
				}
			}
			dropped := uint64(burst - kept)
			if n.BacklogLen() != kept || pool.InUse() != kept {
				t.Fatalf("backlog %d, buffers in use %d, want %d", n.BacklogLen(), pool.InUse(), kept)
			}
			if m.Softnet.Dropped.Load() != dropped || eth.Stats.RxDropped.Load() != dropped ||
				m.Drops[mib.DropCPUBacklog].Load() != dropped || n.Loopback().Stats.RxDropped.Load() != 0 {
				t.Fatalf("dropped %d, eth0 rx_dropped %d, CPU_BACKLOG %d, lo rx_dropped %d; want %d",
					m.Softnet.Dropped.Load(), eth.Stats.RxDropped.Load(), m.Drops[mib.DropCPUBacklog].Load(),
					n.Loopback().Stats.RxDropped.Load(), dropped)
			}
			n.DoSoftirq()
			if len(got) != kept || n.BacklogLen() != 0 || pool.InUse() != 0 {
				t.Fatalf("delivered %d, left %d, in use %d", len(got), n.BacklogLen(), pool.InUse())
			}
			if tapped != [2]int{0, kept} {
				t.Fatalf("tapped on lo %d, on eth0 %d", tapped[0], tapped[1])
			}
			for i, v := range got {
				if v != i {
					t.Fatalf("delivery %d is packet %d", i, v)
				}
			}
		})
	}
}
