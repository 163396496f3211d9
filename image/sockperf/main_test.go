package main

import (
	"bytes"
	"encoding/binary"
	"testing"
)

func msg(seq uint64, flags uint16, length uint32, size int) []byte {
	b := make([]byte, size)
	binary.BigEndian.PutUint64(b, seq)
	binary.BigEndian.PutUint16(b[8:], flags)
	binary.BigEndian.PutUint32(b[10:], length)
	return b
}

func TestAnswer(t *testing.T) {
	for _, tc := range []struct {
		name      string
		in        []byte
		reply     []byte // nil: no reply
		malformed bool
	}{
		{"ping-pong", msg(7, flagClient|flagPong, 14, 14), msg(7, flagPong, 14, 14), false},
		{"larger message", msg(9, flagClient|flagPong, 64, 64), msg(9, flagPong, 64, 64), false},
		{"under-load without PONG", msg(8, flagClient, 14, 14), nil, false},
		{"warmup", msg(1, flagClient|flagPong|flagWarmup, 14, 14), nil, false},
		{"a server's reply", msg(7, flagPong, 14, 14), nil, false},
		{"short", []byte{0, 0, 0, 0, 0, 0, 0, 1, 0, 3, 0, 0, 0}, nil, true},
		{"length over the datagram", msg(7, flagClient|flagPong, 15, 14), nil, true},
		{"length under the header", msg(7, flagClient|flagPong, 13, 14), nil, true},
		{"length under the datagram", msg(7, flagClient|flagPong, 14, 20), nil, true},
	} {
		var c counters
		b := bytes.Clone(tc.in)
		ok := c.answer(b)
		if ok != (tc.reply != nil) {
			t.Errorf("%s: reply %v, want %v", tc.name, ok, tc.reply != nil)
			continue
		}
		if ok && !bytes.Equal(b, tc.reply) {
			t.Errorf("%s: reply % x, want % x", tc.name, b, tc.reply)
		}
		if got := c.malformed.Load() == 1; got != tc.malformed {
			t.Errorf("%s: malformed counted %v, want %v", tc.name, got, tc.malformed)
		}
		if c.received.Load() != 1 {
			t.Errorf("%s: received %d", tc.name, c.received.Load())
		}
	}
}
