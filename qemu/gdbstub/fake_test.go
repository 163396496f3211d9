package gdbstub

import (
	"bufio"
	"encoding/hex"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeStub is an in-process gdbstub on one end of a connection: it frames,
// checksums and acknowledges like QEMU's and answers from its registers
// and memory, or from reply when set.
type fakeStub struct {
	conn net.Conn
	r    *bufio.Reader

	offerNoAck bool                // takes QStartNoAckMode
	reply      func(string) string // raw (already escaped) reply, "" to fall through; "-" to stay silent
	greet      string              // packet sent unasked on connection
	// +checklocks:mu
	refuse int // refuse this many well-formed packets with '-' first
	// +checklocks:mu
	corrupt int // send this many replies with a bad checksum first
	regs    []byte
	mem     map[uint64]byte

	mu    sync.Mutex
	noAck bool
	// +checklocks:mu
	running bool
	// +checklocks:mu
	commands []string
	// +checklocks:mu
	last []byte
}

func newFake(t *testing.T, f *fakeStub) *Client {
	t.Helper()
	return newFakeOpts(t, f, Options{Timeout: time.Second})
}

func newFakeOpts(t *testing.T, f *fakeStub, opt Options) *Client {
	t.Helper()
	// TCP on the loopback rather than net.Pipe: both ends write unasked
	// (acknowledgments, stop replies), which needs buffering.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	cs, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	ss, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	f.conn, f.r = ss, bufio.NewReader(ss)
	if f.greet != "" {
		// Like QEMU's stop reply as it stops the guest on connection.
		f.send(f.greet)
	}
	done := make(chan struct{})
	go func() { defer close(done); f.serve() }()
	t.Cleanup(func() { cs.Close(); ss.Close(); <-done })
	c, err := NewClient(cs, opt)
	if err != nil {
		t.Fatalf("NewClient: %v", err)
	}
	return c
}

func (f *fakeStub) serve() {
	for {
		b, err := f.r.ReadByte()
		if err != nil {
			return
		}
		switch b {
		case '+':
		case '-':
			f.mu.Lock()
			last := f.last
			f.mu.Unlock()
			f.conn.Write(last)
		case 0x03:
			f.mu.Lock()
			run := f.running
			f.running = false
			f.mu.Unlock()
			if run {
				f.send("T02thread:01;")
			}
		case '$':
			body, err := f.r.ReadSlice('#')
			if err != nil {
				return
			}
			frame := append([]byte{'$'}, body...)
			var cs [2]byte
			if _, err := f.r.Read(cs[:1]); err != nil {
				return
			}
			if _, err := f.r.Read(cs[1:]); err != nil {
				return
			}
			frame = append(frame, cs[:]...)
			payload, _, err := decode(frame)
			if err != nil {
				if !f.noAck {
					f.conn.Write([]byte{'-'})
				}
				continue
			}
			if !f.noAck {
				f.mu.Lock()
				refuse := f.refuse > 0
				if refuse {
					f.refuse--
				}
				f.mu.Unlock()
				if refuse {
					f.conn.Write([]byte{'-'})
					continue
				}
				f.conn.Write([]byte{'+'})
			}
			f.handle(string(payload))
		}
	}
}

func (f *fakeStub) handle(cmd string) {
	f.mu.Lock()
	f.commands = append(f.commands, cmd)
	f.mu.Unlock()
	if f.reply != nil {
		switch r := f.reply(cmd); r {
		case "-":
			return
		case "":
		default:
			f.send(r)
			return
		}
	}
	switch {
	case strings.HasPrefix(cmd, "qSupported"):
		r := "PacketSize=100;qXfer:features:read+"
		if f.offerNoAck {
			r += ";QStartNoAckMode+"
		}
		f.send(r)
	case cmd == "QStartNoAckMode" && f.offerNoAck:
		f.send("OK")
		f.noAck = true
	case cmd == "?":
		f.send("T05thread:01;")
	case cmd == "c":
		f.mu.Lock()
		f.running = true
		f.mu.Unlock()
	case cmd == "D":
		f.send("OK")
	case cmd == "g":
		f.send(hex.EncodeToString(f.regs))
	case cmd[0] == 'm':
		a, l, _ := strings.Cut(cmd[1:], ",")
		addr, _ := strconv.ParseUint(a, 16, 64)
		n, _ := strconv.ParseUint(l, 16, 64)
		var out []byte
		for i := range n {
			v, ok := f.mem[addr+i]
			if !ok {
				f.send("E14")
				return
			}
			out = append(out, v)
		}
		f.send(hex.EncodeToString(out))
	default:
		f.send("")
	}
}

// send frames raw (escapes and run lengths left as given) and writes it,
// with a wrong checksum while corrupt lasts.
func (f *fakeStub) send(raw string) {
	sum := checksum([]byte(raw))
	good := fmt.Sprintf("$%s#%02x", raw, sum)
	f.mu.Lock()
	f.last = []byte(good)
	bad := f.corrupt > 0
	if bad {
		f.corrupt--
	}
	f.mu.Unlock()
	if bad {
		f.conn.Write(fmt.Appendf(nil, "$%s#%02x", raw, sum+1))
		return
	}
	f.conn.Write([]byte(good))
}

func (f *fakeStub) setCorrupt(n int) {
	f.mu.Lock()
	f.corrupt = n
	f.mu.Unlock()
}

func (f *fakeStub) setRefuse(n int) {
	f.mu.Lock()
	f.refuse = n
	f.mu.Unlock()
}
