package testbench

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"time"
)

// Request sends payload from src to the guest's UDP port and returns the
// payload of the guest's reply, reassembling it when the guest fragmented
// it (stats replies can exceed one frame).
func (b *Bench) Request(src netip.AddrPort, port uint16, payload []byte, timeout time.Duration) ([]byte, error) {
	if err := b.SendUDP(src, port, payload); err != nil {
		return nil, err
	}
	return b.RecvUDP(netip.AddrPortFrom(b.GuestIP, port), src, timeout)
}

// RecvUDP waits for a UDP datagram from src to dst (see IsUDPFrom for
// wildcards) and returns its payload, reassembled from IP fragments if need
// be. Fragments of other datagrams stay captured.
func (b *Bench) RecvUDP(src, dst netip.AddrPort, timeout time.Duration) ([]byte, error) {
	deadline := time.Now().Add(timeout)
	isFrag := func(p Parsed) bool {
		return p.Proto == 17 && (p.MF || p.FragOff != 0) && (!src.Addr().IsValid() || p.IPSrc == src.Addr())
	}
	whole := IsUDPFrom(src, dst)
	var frags []Parsed
	for {
		left := time.Until(deadline)
		if left <= 0 {
			return nil, fmt.Errorf("%w within %v", ErrTimeout, timeout)
		}
		p, err := b.Next(func(p Parsed) bool { return isFrag(p) || (whole(p) && !p.MF) }, left)
		if err != nil {
			return nil, err
		}
		if !p.MF && p.FragOff == 0 {
			return p.UDPData, nil
		}
		frags = append(frags, p)
		if data, ok := reassemble(frags, src, dst); ok {
			return data, nil
		}
	}
}

// reassemble joins the fragments of one datagram once they cover it.
func reassemble(frags []Parsed, src, dst netip.AddrPort) ([]byte, bool) {
	byID := map[uint16][]Parsed{}
	for _, f := range frags {
		id := binary.BigEndian.Uint16(f.IP[4:])
		byID[id] = append(byID[id], f)
	}
	for _, set := range byID {
		total := -1
		for _, f := range set {
			if !f.MF {
				total = f.FragOff + len(f.L4)
			}
		}
		if total < 8 {
			continue
		}
		buf := make([]byte, total)
		have := make([]bool, total)
		for _, f := range set {
			copy(buf[f.FragOff:], f.L4)
			for i := f.FragOff; i < f.FragOff+len(f.L4) && i < total; i++ {
				have[i] = true
			}
		}
		complete := true
		for _, h := range have {
			complete = complete && h
		}
		if !complete {
			continue
		}
		sport, dport := binary.BigEndian.Uint16(buf[0:]), binary.BigEndian.Uint16(buf[2:])
		if (src.Port() != 0 && sport != src.Port()) || (dst.Port() != 0 && dport != dst.Port()) {
			continue
		}
		ul := int(binary.BigEndian.Uint16(buf[4:]))
		if ul < 8 || ul > total {
			continue
		}
		return buf[8:ul], true
	}
	return nil, false
}
