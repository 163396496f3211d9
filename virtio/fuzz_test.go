package virtio_test

import (
	"encoding/binary"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/kaidoku-net/kaidoku/napi"
	"github.com/kaidoku-net/kaidoku/netstack/skb"
	"github.com/kaidoku-net/kaidoku/virtio"
	"github.com/kaidoku-net/kaidoku/virtio/virtiotest"
)

// FuzzUsedRing plays a device that writes arbitrary used entries (ids,
// lengths, num_buffers, header flags) and arbitrary used indices into the
// receive ring, interleaved with interrupts, polls and resets, all in one
// goroutine. The driver must never panic, never free a buffer twice, and
// account for every buffer: the pool's buffers in use are exactly those
// posted in the ring (delivered ones are freed by Deliver). A fatal
// fault must be reported through Err until Reset.
func FuzzUsedRing(f *testing.F) {
	f.Add(uint8(1), []byte{0, 0, 0x40, 0, 1, 0, 2, 0, 0, 0, 0, 0})
	f.Add(uint8(2), []byte{0, 3, 0x40, 0, 1, 0, 0, 3, 0x40, 0, 1, 0, 2, 0, 0, 0, 0, 0})
	f.Add(uint8(0), []byte{0, 200, 0x40, 0, 1, 0, 2, 0, 0, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 1, 0x40, 0, 1, 0, 2, 0, 0, 0, 0, 0})
	f.Add(uint8(3), []byte{1, 0xff, 0xff, 0, 0, 0, 2, 0, 0, 0, 0, 0})
	f.Add(uint8(1), []byte{0, 0, 0xff, 0xff, 1, 0, 0, 1, 0x40, 0, 3, 2, 0, 2, 0x40, 0, 1, 1, 2, 0, 0, 0, 0, 0})
	f.Add(uint8(2), []byte{0, 5, 0x40, 0, 2, 0, 0, 5, 0x40, 0, 1, 0, 2, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, qlog uint8, script []byte) {
		num := 4 << (qlog % 4) // 4..32
		region := virtio.NewRegion(0x2000_0000, 1<<20)
		rxPool, err := skb.NewPool("rx", 2048, 3*num, virtio.PoolMemory(region))
		if err != nil {
			t.Fatal(err)
		}
		large, err := skb.NewPool("large", 9000, 4, virtio.PoolMemory(region))
		if err != nil {
			t.Fatal(err)
		}
		dev := virtiotest.New(virtiotest.Config{Region: region, QueueNumMax: num})
		sn := napi.NewSoftnet(napi.Config{})
		delivered := 0
		net, err := virtio.NewNet(dev, region, virtio.NetConfig{
			RxPool:      rxPool,
			LargePool:   large,
			Softnet:     sn,
			RefillRetry: time.Hour,
			Deliver: func(b *skb.Buffer) {
				if b.Len() < 14 || b.Len() > b.Pool().Size() {
					t.Fatalf("delivered a %d-byte frame", b.Len())
				}
				delivered++
				b.Free()
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		descA, _, usedA, n := dev.QueueAddrs(virtiotest.RX)
		descB, _ := region.Slice(descA, 16*n)
		usedB, _ := region.Slice(usedA, 4+8*n+4)
		usedWord := (*uint32)(unsafe.Pointer(&usedB[0]))
		usedIdx := uint16(0)
		fatalBase := uint64(0)

		fatalFaults := func() uint64 {
			st := net.Stats()
			return st.FaultCount() - st.Faults[virtio.FaultUsedLen]
		}
		poll := func() {
			dev.SignalUsed()
			net.Interrupt(1)
			for i := 0; i < 1000 && sn.RunOnce(); i++ {
			}
		}
		check := func(where string) {
			st := net.Stats()
			if in := rxPool.InUse(); in != st.RX.Posted {
				t.Fatalf("%s: %d rx buffers in use, %d posted", where, in, st.RX.Posted)
			}
			if large.InUse() != 0 {
				t.Fatalf("%s: %d large buffers leaked", where, large.InUse())
			}
			if ps := rxPool.Stats(); ps.DoubleFree != 0 {
				t.Fatalf("%s: double free", where)
			}
			if (net.Err() != nil) != (fatalFaults() > fatalBase) {
				t.Fatalf("%s: Err() = %v with %d fatal faults since reset", where, net.Err(), fatalFaults()-fatalBase)
			}
		}

		for len(script) >= 6 {
			op, a, b, c, d, e := script[0]%4, script[1], script[2], script[3], script[4], script[5]
			script = script[6:]
			switch op {
			case 0: // a used entry: id a, length b|c<<8, num_buffers d, flags e
				id := uint32(a)
				length := uint32(b) | uint32(c)<<8
				if id < uint32(n) {
					addr := binary.LittleEndian.Uint64(descB[16*id:])
					if hdr, ok := region.Slice(addr, virtio.NetHdrLen); ok {
						hdr[0] = e & 3
						hdr[1] = 0
						binary.LittleEndian.PutUint16(hdr[6:], 14)
						binary.LittleEndian.PutUint16(hdr[8:], uint16(e>>2))
						binary.LittleEndian.PutUint16(hdr[10:], uint16(d))
					}
				}
				entry := usedB[4+8*int(usedIdx&uint16(n-1)):]
				binary.LittleEndian.PutUint32(entry, id)
				binary.LittleEndian.PutUint32(entry[4:], length)
				usedIdx++
				atomic.StoreUint32(usedWord, uint32(usedIdx)<<16)
			case 1: // an arbitrary used index
				usedIdx = uint16(a) | uint16(b)<<8
				atomic.StoreUint32(usedWord, uint32(usedIdx)<<16)
			case 2:
				poll()
				check("poll")
			case 3:
				if err := net.Reset(); err != nil {
					t.Fatal(err)
				}
				usedIdx = 0
				fatalBase = fatalFaults()
				if net.Err() != nil {
					t.Fatal("Err() survived Reset")
				}
				check("reset")
			}
		}
		poll()
		check("end")
		if err := net.Close(); err != nil {
			t.Fatal(err)
		}
		if rxPool.InUse() != 0 || large.InUse() != 0 {
			t.Fatalf("after Close: %d rx, %d large buffers in use", rxPool.InUse(), large.InUse())
		}
		_ = delivered
	})
}
