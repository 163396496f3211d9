//go:build tamago

package main

import (
	"encoding/binary"
	"sync/atomic"
)

// Matching the driver's timestamps to reads.
//
// kaidoku's driver stamps each received buffer with T0 (the hard
// interrupt) and T1 (the start of the NAPI poll that took it). gVisor's
// packet buffers have no room for them, and the datagram reaches the echo
// loop only as bytes and an address. So the link endpoint remembers, for
// each IPv4/UDP datagram to the echo port, (source port, first 8 payload
// bytes) → (T0, T1) in a fixed ring indexed by a hash of that key, and
// the echo loop looks the key up when its read returns. The benchmark
// puts a unique 8-byte sequence number at the start of every request, so
// the key identifies the datagram; a later datagram hashing to the same
// slot overwrites an older one (counted as unmatched when read), which
// with a few dozen datagrams in flight and 1024 slots is rare.
//
// Recording costs a few header loads and three atomic stores per frame;
// a lookup, three loads and a compare-and-swap. Nothing allocates.

// stampSlots is the ring size, a power of two well above the requests
// the benchmark keeps in flight (32).
const stampSlots = 1024

// stampSlot holds one datagram's stamps. key is written last and cleared
// first, and read before and after the times, so a reader never takes
// the times of another datagram (a seqlock whose version is the key).
type stampSlot struct {
	key    atomic.Uint64
	t0, t1 atomic.Int64
}

// stampRing is the table of remembered stamps for datagrams to one port.
type stampRing struct {
	port  uint16
	slots [stampSlots]stampSlot

	recorded, matched, unmatched atomic.Uint64
}

func newStampRing(port uint16) *stampRing { return &stampRing{port: port} }

// stampKey mixes the datagram's source port into its first payload bytes;
// 0 is reserved for an empty slot.
func stampKey(srcPort uint16, first8 uint64) uint64 {
	k := first8 ^ uint64(srcPort)<<48 ^ uint64(srcPort)
	if k == 0 {
		k = 1
	}
	return k
}

func stampIndex(k uint64) int {
	// Fibonacci hashing: sequential sequence numbers spread over the ring.
	return int((k * 0x9e3779b97f4a7c15) >> (64 - 10))
}

// observe records T0/T1 for frame (from its Ethernet header) if it is an
// unfragmented IPv4 UDP datagram to the ring's port with at least 8
// payload bytes. It runs in the softnet goroutine, before the frame is
// handed to gVisor.
func (r *stampRing) observe(frame []byte, t0, t1 int64) {
	const eth = 14
	if t0 == 0 || len(frame) < eth+20+8+8 || frame[12] != 0x08 || frame[13] != 0x00 {
		return
	}
	ip := frame[eth:]
	if ip[0]>>4 != 4 || ip[9] != 17 {
		return
	}
	// Fragments are skipped: the datagram the reader sees is whole only
	// after reassembly, and the key is in the first fragment only.
	if binary.BigEndian.Uint16(ip[6:])&0x3fff != 0 {
		return
	}
	ihl := int(ip[0]&0x0f) * 4
	if ihl < 20 || len(ip) < ihl+8+8 {
		return
	}
	udp := ip[ihl:]
	if binary.BigEndian.Uint16(udp[2:]) != r.port {
		return
	}
	k := stampKey(binary.BigEndian.Uint16(udp[0:]), binary.BigEndian.Uint64(udp[8:]))
	s := &r.slots[stampIndex(k)]
	s.key.Store(0)
	s.t0.Store(t0)
	s.t1.Store(t1)
	s.key.Store(k)
	r.recorded.Add(1)
}

// take returns and forgets the stamps of the datagram read from srcPort
// whose payload starts with payload[:8]. ok is false when there are none
// (a short payload, a fragmented datagram, a slot overwritten since).
func (r *stampRing) take(srcPort uint16, payload []byte) (t0, t1 int64, ok bool) {
	if len(payload) < 8 {
		return 0, 0, false
	}
	k := stampKey(srcPort, binary.BigEndian.Uint64(payload))
	s := &r.slots[stampIndex(k)]
	if s.key.Load() != k {
		r.unmatched.Add(1)
		return 0, 0, false
	}
	t0, t1 = s.t0.Load(), s.t1.Load()
	// Clearing the key both checks that no writer replaced the slot while
	// the times were read and keeps a stale entry from matching a later
	// run that reuses the sequence numbers.
	if !s.key.CompareAndSwap(k, 0) {
		r.unmatched.Add(1)
		return 0, 0, false
	}
	r.matched.Add(1)
	return t0, t1, true
}
