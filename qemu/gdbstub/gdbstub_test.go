package gdbstub

import (
	"bytes"
	"errors"
	"os"
	"slices"
	"testing"
)

func TestDecode(t *testing.T) {
	tests := []struct {
		name  string
		frame string
		want  string
		n     int
		err   error
	}{
		{"empty payload", "$#00", "", 4, nil},
		{"plain", "$OK#9a", "OK", 6, nil},
		{"trailing bytes", "$OK#9a+$", "OK", 6, nil},
		{"escaped specials", "$}\x03}\x04}]}\x0a#" + sumOf("}\x03}\x04}]}\x0a"), "#$}*", 0, nil},
		{"run length", "$0* #" + sumOf("0* "), "0000", 0, nil},
		{"run length of an escaped byte", "$}]*!#" + sumOf("}]*!"), "}}}}}", 0, nil},
		{"long run", "$a*~#" + sumOf("a*~"), string(bytes.Repeat([]byte("a"), 1+126-29)), 0, nil},
		{"bad checksum", "$OK#9b", "", 6, ErrChecksum},
		{"checksum not hex", "$OK#zz", "", 6, ErrMalformed},
		{"no end", "$OK", "", 0, errIncomplete},
		{"half a checksum", "$OK#9", "", 0, errIncomplete},
		{"not a packet", "+$OK#9a", "", 0, ErrMalformed},
		{"escape at the end", "$a}#" + sumOf("a}"), "", 0, ErrMalformed},
		{"run with nothing before", "$* #" + sumOf("* "), "", 0, ErrMalformed},
		{"run length control byte", "$a*\x01#" + sumOf("a*\x01"), "", 0, ErrMalformed},
		{"run length dollar", "$a*$#" + sumOf("a*$"), "", 0, ErrMalformed},
		{"run count missing", "$a*#" + sumOf("a*"), "", 0, ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, n, err := decode([]byte(tt.frame))
			if !errors.Is(err, tt.err) {
				t.Fatalf("decode(%q) error %v, want %v", tt.frame, err, tt.err)
			}
			if err == nil && string(got) != tt.want {
				t.Errorf("decode(%q) = %q, want %q", tt.frame, got, tt.want)
			}
			if tt.n != 0 && n != tt.n {
				t.Errorf("decode(%q) used %d bytes, want %d", tt.frame, n, tt.n)
			}
		})
	}
}

func sumOf(raw string) string {
	s := checksum([]byte(raw))
	return string([]byte{hexDigit(s >> 4), hexDigit(s & 15)})
}

func TestEncodeRoundTrip(t *testing.T) {
	for _, p := range []string{"", "g", "m10010000,10", "$#}*", "X\x00\xff*}"} {
		f := encode([]byte(p))
		got, n, err := decode(f)
		if err != nil || string(got) != p || n != len(f) {
			t.Errorf("decode(encode(%q)) = %q, %d, %v; frame %q", p, got, n, err, f)
		}
	}
}

func FuzzDecode(f *testing.F) {
	for _, s := range []string{"$OK#9a", "$0* #" + sumOf("0* "), "$}]#" + sumOf("}]"), "$#00", "$a}#00", "$*!#00"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		p, n, err := decode(b)
		if n > len(b) {
			t.Fatalf("used %d of %d bytes", n, len(b))
		}
		if err != nil {
			return
		}
		q, _, err := decode(encode(p))
		if err != nil || !bytes.Equal(p, q) {
			t.Fatalf("payload %q does not survive encode: %q, %v", p, q, err)
		}
	})
}

// regsBytes is a 'g' reply body: rax=1, rbx=2, ... r15=16, rip, eflags,
// segments 0x10.., then QEMU's further registers (here zero).
func regsBytes(rip uint64) []byte {
	var b []byte
	le := func(v uint64, n int) {
		for i := range n {
			b = append(b, byte(v>>(8*i)))
		}
	}
	for i := range 16 {
		le(uint64(i+1)<<40|uint64(i+1), 8)
	}
	le(rip, 8)
	le(0x246, 4)
	for i := range 6 {
		le(uint64(0x10+i), 4)
	}
	return append(b, make([]byte, 200)...)
}

func TestClient(t *testing.T) {
	mem := map[uint64]byte{}
	for i := range uint64(600) {
		mem[0x1000+i] = byte(i)
	}
	tests := []struct {
		name string
		fake *fakeStub
		run  func(t *testing.T, c *Client, f *fakeStub)
	}{
		{"no-ack negotiated", &fakeStub{offerNoAck: true}, func(t *testing.T, c *Client, f *fakeStub) {
			if !c.NoAck() {
				t.Error("acknowledgments still on though the stub offered QStartNoAckMode")
			}
		}},
		{"no-ack not offered", &fakeStub{}, func(t *testing.T, c *Client, f *fakeStub) {
			if c.NoAck() {
				t.Error("acknowledgments off though the stub did not offer QStartNoAckMode")
			}
			f.mu.Lock()
			defer f.mu.Unlock()
			if !slices.Contains(f.commands, "qSupported:xmlRegisters=i386") || !slices.Contains(f.commands, "QStartNoAckMode") {
				t.Errorf("handshake %q, want qSupported and QStartNoAckMode", f.commands)
			}
		}},
		{"stop reply on connection", &fakeStub{greet: "T02thread:01;", regs: regsBytes(3)}, func(t *testing.T, c *Client, f *fakeStub) {
			r, err := c.HaltReason()
			if err != nil || r.Signal != 5 {
				t.Errorf("HaltReason = %+v, %v; want the reply to '?', not the greeting", r, err)
			}
			if r, err := c.ReadRegisters(); err != nil || r.RIP != 3 {
				t.Errorf("ReadRegisters = %#x, %v", r.RIP, err)
			}
		}},
		{"registers", &fakeStub{offerNoAck: true, regs: regsBytes(0x10012345)}, func(t *testing.T, c *Client, f *fakeStub) {
			r, err := c.ReadRegisters()
			if err != nil {
				t.Fatal(err)
			}
			if r.RIP != 0x10012345 || r.GPR[RBP] != 7<<40|7 || r.GPR[RSP] != 8<<40|8 || r.GPR[R15] != 16<<40|16 || r.EFLAGS != 0x246 || r.Seg[5] != 0x15 {
				t.Errorf("registers %+v", r)
			}
		}},
		{"short register reply", &fakeStub{regs: make([]byte, 100)}, func(t *testing.T, c *Client, f *fakeStub) {
			if _, err := c.ReadRegisters(); !errors.Is(err, ErrMalformed) {
				t.Errorf("error %v, want ErrMalformed", err)
			}
		}},
		{"memory in chunks", &fakeStub{offerNoAck: true, mem: mem}, func(t *testing.T, c *Client, f *fakeStub) {
			b, err := c.ReadMemory(0x1010, 300) // PacketSize 0x100: several requests
			if err != nil {
				t.Fatal(err)
			}
			for i, v := range b {
				if v != byte(0x10+i) {
					t.Fatalf("byte %d = %#x", i, v)
				}
			}
			if len(b) != 300 {
				t.Fatalf("%d bytes", len(b))
			}
		}},
		{"run-length reply", &fakeStub{reply: func(cmd string) string {
			if cmd == "m2000,8" {
				return "0*,"
			}
			return ""
		}}, func(t *testing.T, c *Client, f *fakeStub) {
			b, err := c.ReadMemory(0x2000, 8)
			if err != nil || !bytes.Equal(b, make([]byte, 8)) {
				t.Errorf("ReadMemory = %x, %v; want 8 zero bytes", b, err)
			}
		}},
		{"error reply", &fakeStub{mem: mem}, func(t *testing.T, c *Client, f *fakeStub) {
			_, err := c.ReadMemory(0x9000, 8)
			var e *ErrorReply
			if !errors.As(err, &e) || e.Code != 0x14 || e.Command != "m9000,8" {
				t.Errorf("error %v, want ErrorReply 14 for m9000,8", err)
			}
		}},
		{"text error reply", &fakeStub{reply: func(cmd string) string {
			if cmd == "g" {
				return "E.no cpu"
			}
			return ""
		}}, func(t *testing.T, c *Client, f *fakeStub) {
			_, err := c.ReadRegisters()
			var e *ErrorReply
			if !errors.As(err, &e) || e.Text != "no cpu" {
				t.Errorf("error %v, want ErrorReply text", err)
			}
		}},
		{"unsupported", &fakeStub{}, func(t *testing.T, c *Client, f *fakeStub) {
			if _, err := c.Request("vMustReplyEmpty"); !errors.Is(err, ErrUnsupported) {
				t.Errorf("error %v, want ErrUnsupported", err)
			}
		}},
		{"bad checksum retried with acks", &fakeStub{regs: regsBytes(1)}, func(t *testing.T, c *Client, f *fakeStub) {
			f.setCorrupt(2)
			if r, err := c.ReadRegisters(); err != nil || r.RIP != 1 {
				t.Errorf("ReadRegisters = %v, %v after two damaged replies", r.RIP, err)
			}
		}},
		{"bad checksum without acks", &fakeStub{offerNoAck: true, regs: regsBytes(1)}, func(t *testing.T, c *Client, f *fakeStub) {
			f.setCorrupt(1)
			if _, err := c.ReadRegisters(); !errors.Is(err, ErrChecksum) {
				t.Errorf("error %v, want ErrChecksum", err)
			}
		}},
		{"timeout", &fakeStub{offerNoAck: true, reply: func(cmd string) string {
			if cmd == "g" {
				return "-"
			}
			return ""
		}}, func(t *testing.T, c *Client, f *fakeStub) {
			if _, err := c.ReadRegisters(); !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Errorf("error %v, want a deadline error", err)
			}
		}},
		{"continue and interrupt", &fakeStub{offerNoAck: true, regs: regsBytes(1)}, func(t *testing.T, c *Client, f *fakeStub) {
			if _, err := c.Interrupt(); !errors.Is(err, ErrStopped) {
				t.Errorf("Interrupt while stopped: %v, want ErrStopped", err)
			}
			if err := c.Continue(); err != nil {
				t.Fatal(err)
			}
			if _, err := c.ReadRegisters(); !errors.Is(err, ErrRunning) {
				t.Errorf("ReadRegisters while running: %v, want ErrRunning", err)
			}
			s, err := c.Interrupt()
			if err != nil || s.Signal != 2 {
				t.Fatalf("Interrupt = %+v, %v; want signal 2", s, err)
			}
			if _, err := c.ReadRegisters(); err != nil {
				t.Error(err)
			}
		}},
		{"interrupt with registers, acknowledged", &fakeStub{regs: regsBytes(0x4242), mem: mem}, interruptRegisters},
		{"interrupt with registers, no acks", &fakeStub{offerNoAck: true, regs: regsBytes(0x4242), mem: mem}, interruptRegisters},
		{"requests in one write", &fakeStub{regs: regsBytes(9), mem: mem}, func(t *testing.T, c *Client, f *fakeStub) {
			r, err := c.Requests("m1000,2", "?", "m1002,1")
			if err != nil || !slices.Equal(r, []string{"0001", "T05thread:01;", "02"}) {
				t.Errorf("Requests = %q, %v", r, err)
			}
			if _, err := c.Requests("m1000,1", "m9000,1", "g"); err == nil {
				t.Error("an error reply in a batch went unreported")
			}
		}},
		{"refused packet sent again", &fakeStub{regs: regsBytes(5)}, func(t *testing.T, c *Client, f *fakeStub) {
			f.setRefuse(2)
			if r, err := c.ReadRegisters(); err != nil || r.RIP != 5 {
				t.Errorf("ReadRegisters = %#x, %v after two refusals", r.RIP, err)
			}
		}},
		{"close detaches a running guest", &fakeStub{offerNoAck: true}, func(t *testing.T, c *Client, f *fakeStub) {
			c.Continue()
			if err := c.Close(); err != nil {
				t.Fatal(err)
			}
			f.mu.Lock()
			defer f.mu.Unlock()
			if n := len(f.commands); n == 0 || f.commands[n-1] != "D" {
				t.Errorf("commands %q, want a final D", f.commands)
			}
		}},
		{"exit reply", &fakeStub{reply: func(cmd string) string {
			if cmd == "?" {
				return "W00"
			}
			return ""
		}}, func(t *testing.T, c *Client, f *fakeStub) {
			if _, err := c.HaltReason(); !errors.Is(err, ErrExited) {
				t.Errorf("error %v, want ErrExited", err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newFake(t, tt.fake)
			tt.run(t, c, tt.fake)
		})
	}
}

// interruptRegisters stops a running guest and reads its registers in one
// write, then checks that later requests still pair with their replies.
func interruptRegisters(t *testing.T, c *Client, f *fakeStub) {
	for range 3 {
		if err := c.Continue(); err != nil {
			t.Fatal(err)
		}
		s, r, err := c.InterruptRegisters()
		if err != nil || s.Signal != 2 || r.RIP != 0x4242 {
			t.Fatalf("InterruptRegisters = %+v, %#x, %v", s, r.RIP, err)
		}
		b, err := c.ReadMemory(0x1001, 2)
		if err != nil || !bytes.Equal(b, []byte{1, 2}) {
			t.Fatalf("ReadMemory after = %x, %v", b, err)
		}
	}
}
