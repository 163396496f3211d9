package gdbstub

import (
	"errors"
	"fmt"
	"strconv"
)

// Packet framing in the remote serial protocol: '$' payload '#' and two
// hex digits, the sum of the payload bytes as sent modulo 256. In the
// payload '}' escapes the next byte (sent XOR 0x20) and "X*n" repeats X
// another n-29 times (n a printable byte).

var (
	// errIncomplete means the buffer ends inside a packet.
	errIncomplete = errors.New("gdbstub: incomplete packet")
	// ErrChecksum means a packet's checksum does not match its payload.
	ErrChecksum = errors.New("gdbstub: packet checksum mismatch")
	// ErrMalformed means a packet breaks the framing rules.
	ErrMalformed = errors.New("gdbstub: malformed packet")
)

// checksum is the packet checksum of the payload as sent.
func checksum(b []byte) byte {
	var s byte
	for _, c := range b {
		s += c
	}
	return s
}

// encode frames payload as a packet, escaping the bytes that would end or
// confuse the frame. It never run-length encodes: stubs need not decode it.
func encode(payload []byte) []byte {
	out := make([]byte, 0, len(payload)+4)
	out = append(out, '$')
	for _, c := range payload {
		switch c {
		case '$', '#', '}', '*':
			out = append(out, '}', c^0x20)
		default:
			out = append(out, c)
		}
	}
	sum := checksum(out[1:])
	return append(out, '#', hexDigit(sum>>4), hexDigit(sum&15))
}

func hexDigit(v byte) byte { return "0123456789abcdef"[v&15] }

// decode parses the packet at the start of b, which must begin with '$',
// and returns its payload (escapes and run lengths expanded) and the number
// of bytes of b it used. It returns errIncomplete if b ends inside the
// packet, ErrChecksum if the checksum is wrong, ErrMalformed for a bad
// escape or run length; n is then still the frame's length, so that a
// reader can skip it.
func decode(b []byte) (payload []byte, n int, err error) {
	if len(b) == 0 || b[0] != '$' {
		return nil, 0, fmt.Errorf("%w: does not start with '$'", ErrMalformed)
	}
	end := -1
	for i := 1; i < len(b); i++ {
		if b[i] == '#' {
			end = i
			break
		}
	}
	if end < 0 || len(b) < end+3 {
		return nil, 0, errIncomplete
	}
	n = end + 3
	raw := b[1:end]
	want, perr := strconv.ParseUint(string(b[end+1:end+3]), 16, 8)
	if perr != nil {
		return nil, n, fmt.Errorf("%w: checksum %q is not hex", ErrMalformed, b[end+1:end+3])
	}
	if got := checksum(raw); got != byte(want) {
		return nil, n, fmt.Errorf("%w: sent %02x, computed %02x", ErrChecksum, want, got)
	}
	payload, err = unescape(raw)
	return payload, n, err
}

// unescape expands escapes and run lengths in a packet's payload.
func unescape(raw []byte) ([]byte, error) {
	out := make([]byte, 0, len(raw))
	for i := 0; i < len(raw); i++ {
		switch c := raw[i]; c {
		case '}':
			if i+1 == len(raw) {
				return nil, fmt.Errorf("%w: escape at the end", ErrMalformed)
			}
			i++
			out = append(out, raw[i]^0x20)
		case '*':
			if len(out) == 0 || i+1 == len(raw) {
				return nil, fmt.Errorf("%w: run length without a byte to repeat", ErrMalformed)
			}
			i++
			count := int(raw[i]) - 29
			if raw[i] < ' ' || raw[i] > '~' || raw[i] == '$' {
				// Counts are printable bytes other than '$' and '#'
				// (which would end the frame).
				return nil, fmt.Errorf("%w: run length %q", ErrMalformed, raw[i])
			}
			prev := out[len(out)-1]
			for range count {
				out = append(out, prev)
			}
		default:
			out = append(out, c)
		}
	}
	return out, nil
}
