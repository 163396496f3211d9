package netstack

import (
	"testing"

	"github.com/kaidoku-net/kaidoku/netstack/internal/wire"
	"github.com/kaidoku-net/kaidoku/netstack/skb"
	"github.com/kaidoku-net/kaidoku/netstack/socket"
)

// nullLink frees transmitted frames without looking at them.
type nullLink struct{ n int }

func (l *nullLink) Transmit(b *skb.Buffer) error { l.n++; b.Free(); return nil }
func (l *nullLink) MAC() [6]byte                 { return macM }
func (l *nullLink) MTU() int                     { return 1500 }
func (l *nullLink) Headroom() int                { return virtioHeadroom }

type benchEnv struct {
	s      *Stack
	frames *skb.Pool
	frame  []byte
	sock   *socket.Socket
	// noStamps leaves T0/T1 unset, as the driver with NoTrace does.
	noStamps bool
}

func newBenchEnv(b *testing.B, payload int, checksumUnnecessary bool, opts ...envOpt) *benchEnv {
	frames, _ := skb.NewPool("frames", 2048, 256, skb.HeapMemory)
	var now int64 = 1e12
	cfg := Config{Link: &nullLink{}, FramePool: frames, Addr: ipM.As4(), PrefixLen: 24,
		Now: func() int64 { return now }, ManualTimers: true}
	for _, o := range opts {
		o(&cfg)
	}
	s, err := New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	sk, _ := s.Socket(socket.AFInet, socket.SockDgram, 0)
	if err := sk.Bind(sa(0, 7000)); err != nil {
		b.Fatal(err)
	}
	p := udpPkt(7000, make([]byte, payload))
	be := &benchEnv{s: s, frames: frames, frame: p.frame(), sock: sk}
	// Resolve the tester's address: an ARP request from it creates the
	// neighbour entry.
	arp := make([]byte, 42)
	wire.PutEth(arp, wire.BroadcastMAC, macT, wire.EthPARP)
	wire.PutARP(arp[14:], wire.ARPOpRequest, macT, ipT, wire.MAC{}, ipM)
	be.inject(arp, false)
	return be
}

func (be *benchEnv) inject(frame []byte, unnecessary bool) {
	b := be.frames.Get()
	b.Reserve(virtioHeadroom)
	b.Put(len(frame))
	copy(b.Data(), frame)
	b.Ifindex = 2
	if unnecessary {
		b.IPSummed = skb.ChecksumUnnecessary
	}
	if !be.noStamps {
		b.Trace.T0, b.Trace.T1 = 1e12-2000, 1e12-1000
	}
	be.s.Receive(b)
}

// BenchmarkRxToRecvFrom is the per-datagram receive cost from an
// Ethernet frame handed to Stack.Receive to the payload in the reader's
// buffer (same goroutine, so no wakeup), with the UDP checksum verified
// in software (64-byte payload: at arrival).
func BenchmarkRxToRecvFrom(b *testing.B) {
	be := newBenchEnv(b, 64, false)
	buf := make([]byte, 2048)
	var from socket.Sockaddr
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		be.inject(be.frame, false)
		if _, err := be.sock.RecvFrom(buf, socket.MsgDontwait, &from); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLatencyTrace is BenchmarkRxToRecvFrom with the latency trace
// on (the default: frames stamped T0/T1 as the driver does, T2 at
// enqueue, T3 and four histogram updates in recvmsg) and off
// (Config.NoLatencyTrace, frames unstamped as virtio.NetConfig.NoTrace
// leaves them), side by side in one run: the difference is the trace's
// cost per datagram. The clock is a variable read, cheaper than the
// image's TSC read, so this is a lower bound on it.
func BenchmarkLatencyTrace(b *testing.B) {
	for _, on := range []bool{true, false} {
		name := "trace=on"
		if !on {
			name = "trace=off"
		}
		b.Run(name, func(b *testing.B) {
			be := newBenchEnv(b, 64, false, func(c *Config) { c.NoLatencyTrace = !on })
			be.noStamps = !on
			buf := make([]byte, 2048)
			var from socket.Sockaddr
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				be.inject(be.frame, false)
				if _, err := be.sock.RecvFrom(buf, socket.MsgDontwait, &from); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkRxToRecvFromCsumOffload is the same with the device having
// verified the checksum (VIRTIO_NET_HDR_F_DATA_VALID), 1024-byte payload.
func BenchmarkRxToRecvFromCsumOffload(b *testing.B) {
	be := newBenchEnv(b, 1024, true)
	buf := make([]byte, 2048)
	var from socket.Sockaddr
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		be.inject(be.frame, true)
		if _, err := be.sock.RecvFrom(buf, socket.MsgDontwait, &from); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRxBlockedReader has a goroutine blocked in RecvFrom that the
// receive path wakes for each datagram (sk_data_ready → exclusive
// wakeup), as in the image.
func BenchmarkRxBlockedReader(b *testing.B) {
	be := newBenchEnv(b, 64, false)
	got := make(chan struct{}, 1)
	go func() {
		buf := make([]byte, 2048)
		var from socket.Sockaddr
		for {
			if _, err := be.sock.RecvFrom(buf, 0, &from); err != nil {
				return
			}
			got <- struct{}{}
		}
	}()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		be.inject(be.frame, false)
		<-got
	}
	b.StopTimer()
	be.sock.Interrupt()
	be.sock.Close()
}

// BenchmarkUDPEcho is a UDP echo service's per-datagram cost: receive,
// RecvFrom, and SendTo back to the sender (route, checksum, IP header,
// resolved neighbour, Link.Transmit).
func BenchmarkUDPEcho(b *testing.B) {
	be := newBenchEnv(b, 64, false)
	buf := make([]byte, 2048)
	var from socket.Sockaddr
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		be.inject(be.frame, false)
		n, err := be.sock.RecvFrom(buf, socket.MsgDontwait, &from)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := be.sock.SendTo(buf[:n], 0, &from); err != nil {
			b.Fatal(err)
		}
	}
}
