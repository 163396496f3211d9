// Package gdbstub is a client for the GDB remote serial protocol as QEMU's
// gdbstub speaks it (qemu -gdb tcp:HOST:PORT): enough to stop a vCPU, read
// its registers and memory, and let it run again. It is what the guest
// profiler samples through; it is not a debugger.
//
// QEMU stops the guest when a client connects and treats any byte received
// while the guest runs as a request to stop it (the byte is then lost), so
// a Client tracks whether the guest runs and meanwhile sends nothing but
// the interrupt byte, possibly with requests right behind it, which QEMU
// reads once the guest has stopped. Requests may be sent together and
// their replies read in order, one round trip for several.
package gdbstub

import (
	"bufio"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"
)

// Options configures a Client.
type Options struct {
	// Timeout bounds the wait for each reply (5 s when 0).
	Timeout time.Duration
}

// Client is a connection to a gdbstub. Its methods must not be called
// concurrently.
type Client struct {
	conn    net.Conn
	r       *bufio.Reader
	timeout time.Duration
	ack     bool // '+'/'-' acknowledgments still in use
	running bool
	// sent counts the packets sent, acked those acknowledged; unacked
	// holds the packets awaiting acknowledgment, resent how often the
	// oldest was asked for again.
	sent, acked, resent int
	unacked             [][]byte
	// maxPacket is the stub's PacketSize from qSupported (payload bytes).
	maxPacket int
}

// ErrorReply is a stub's error reply, "E NN" (or "E.text").
type ErrorReply struct {
	// Command is the request that failed, e.g. "m10010000,10".
	Command string
	// Code is NN; 0 for a text error.
	Code uint8
	// Text is the text of an "E.text" reply.
	Text string
}

func (e *ErrorReply) Error() string {
	if e.Text != "" {
		return fmt.Sprintf("gdbstub: %q failed: %s", e.Command, e.Text)
	}
	return fmt.Sprintf("gdbstub: %q failed: error %02x", e.Command, e.Code)
}

var (
	// ErrUnsupported is the stub's empty reply: it does not know the
	// request.
	ErrUnsupported = errors.New("gdbstub: request not supported by the stub")
	// ErrRunning means a request that needs a stopped guest was made while
	// it runs.
	ErrRunning = errors.New("gdbstub: guest is running")
	// ErrStopped means Interrupt was called while the guest is stopped.
	ErrStopped = errors.New("gdbstub: guest is already stopped")
	// ErrExited means the stub reported that the guest exited.
	ErrExited = errors.New("gdbstub: guest exited")
)

// Dial connects to the gdbstub at addr (host:port) and negotiates the
// protocol. The guest is stopped when Dial returns (QEMU stops it on
// connection); call Continue to let it run.
func Dial(addr string, opt Options) (*Client, error) {
	timeout := opt.Timeout
	if timeout == 0 {
		timeout = 5 * time.Second
	}
	conn, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return nil, err
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		tc.SetNoDelay(true)
	}
	c, err := NewClient(conn, opt)
	if err != nil {
		conn.Close()
		return nil, err
	}
	return c, nil
}

// NewClient negotiates the protocol over conn (qSupported, then
// QStartNoAckMode if the stub takes it) and asks why the guest stopped.
// The guest is taken to be stopped, as QEMU leaves it on connection.
func NewClient(conn net.Conn, opt Options) (*Client, error) {
	c := &Client{conn: conn, r: bufio.NewReaderSize(conn, 64<<10), timeout: opt.Timeout, ack: true, maxPacket: 4096}
	if c.timeout == 0 {
		c.timeout = 5 * time.Second
	}
	feats, err := c.Request("qSupported:xmlRegisters=i386")
	if err != nil && !errors.Is(err, ErrUnsupported) {
		return nil, err
	}
	for _, f := range strings.Split(feats, ";") {
		if k, v, _ := strings.Cut(f, "="); k == "PacketSize" {
			if n, err := strconv.ParseUint(v, 16, 32); err == nil && n >= 64 {
				c.maxPacket = int(n)
			}
		}
	}
	// Asked even if qSupported does not list it (QEMU 7 does not, and
	// answers it empty: not supported).
	switch r, err := c.Request("QStartNoAckMode"); {
	case err == nil:
		// The stub acknowledges up to and including this reply, which
		// Request has acknowledged; neither side acknowledges after it.
		c.ack = r != "OK"
	case !errors.Is(err, ErrUnsupported):
		return nil, err
	}
	if _, err := c.Request("?"); err != nil {
		return nil, err
	}
	return c, nil
}

// NoAck reports whether acknowledgments are off (QStartNoAckMode).
func (c *Client) NoAck() bool { return !c.ack }

// Running reports whether the guest runs, as far as the client knows.
func (c *Client) Running() bool { return c.running }

// Request sends one packet and returns the stub's reply packet. An empty
// reply is ErrUnsupported and "E NN" an *ErrorReply. The guest must be
// stopped.
func (c *Client) Request(cmd string) (string, error) {
	r, err := c.Requests(cmd)
	if err != nil {
		return "", err
	}
	return r[0], nil
}

// Requests sends the packets in one write and returns their replies, in
// one round trip rather than one each. The first error (as Request's)
// ends it.
func (c *Client) Requests(cmds ...string) ([]string, error) {
	if c.running {
		return nil, ErrRunning
	}
	if err := c.write(nil, cmds); err != nil {
		return nil, err
	}
	return c.replies(cmds)
}

// replies reads the replies to cmds, the last packets written.
func (c *Client) replies(cmds []string) ([]string, error) {
	out := make([]string, len(cmds))
	for i, cmd := range cmds {
		r, err := c.recv(cmd, c.sent-len(cmds)+i+1)
		if err != nil {
			return nil, err
		}
		switch {
		case r == "":
			return nil, fmt.Errorf("%w: %q", ErrUnsupported, cmd)
		case r[0] == 'E' && len(r) == 3:
			if code, err := strconv.ParseUint(r[1:], 16, 8); err == nil {
				return nil, &ErrorReply{Command: cmd, Code: uint8(code)}
			}
		case strings.HasPrefix(r, "E."):
			return nil, &ErrorReply{Command: cmd, Text: r[2:]}
		}
		out[i] = r
	}
	return out, nil
}

// write sends prefix (raw bytes: the interrupt) and the packets for cmds
// in one write. While acknowledgments are on, the packets wait in unacked
// for the stub's '+', which recv reads.
func (c *Client) write(prefix []byte, cmds []string) error {
	buf := append([]byte(nil), prefix...)
	for _, cmd := range cmds {
		f := encode([]byte(cmd))
		buf = append(buf, f...)
		if c.ack {
			c.unacked = append(c.unacked, f)
		}
	}
	c.sent += len(cmds)
	c.conn.SetWriteDeadline(time.Now().Add(c.timeout))
	if _, err := c.conn.Write(buf); err != nil {
		return fmt.Errorf("gdbstub: sending %q: %w", cmds, err)
	}
	return nil
}

// recv reads the reply to the packet numbered seq, counting from 1 (for
// the stop reply after an interrupt, the number of packets sent before
// it). While acknowledgments are on, the stub
// acknowledges a packet before it answers it: a packet that comes before
// the acknowledgments up to seq is one the stub sent unasked (QEMU's stop
// reply as it stops the guest on connection) and is dropped. A damaged
// packet is refused with '-' (the stub resends it) and a good one accepted
// with '+'; without acknowledgments a damaged packet is an error.
func (c *Client) recv(what string, seq int) (string, error) {
	c.conn.SetReadDeadline(time.Now().Add(c.timeout))
	for bad := 0; ; {
		frame, err := c.readFrame()
		if err != nil {
			return "", fmt.Errorf("gdbstub: waiting for the reply to %q: %w", what, err)
		}
		payload, _, err := decode(frame)
		if err != nil {
			if !c.ack || bad == 3 {
				return "", fmt.Errorf("gdbstub: reply to %q: %w", what, err)
			}
			bad++
			if _, err := c.conn.Write([]byte{'-'}); err != nil {
				return "", err
			}
			continue
		}
		if c.ack {
			if _, err := c.conn.Write([]byte{'+'}); err != nil {
				return "", err
			}
			if c.acked < seq {
				continue
			}
		}
		return string(payload), nil
	}
}

// readFrame reads from the next '$' to the end of its checksum, taking
// acknowledgments on the way: '+' for the oldest packet not yet
// acknowledged, '-' asking for it again.
func (c *Client) readFrame() ([]byte, error) {
	for {
		b, err := c.r.ReadByte()
		if err != nil {
			return nil, err
		}
		switch b {
		case '$':
			return c.readBody()
		case '+':
			if len(c.unacked) > 0 {
				c.unacked = c.unacked[1:]
				c.acked++
				c.resent = 0
			}
		case '-':
			if len(c.unacked) == 0 {
				continue
			}
			if c.resent++; c.resent > 3 {
				return nil, fmt.Errorf("%w: the stub refused a packet %d times", ErrMalformed, c.resent)
			}
			c.conn.SetWriteDeadline(time.Now().Add(c.timeout))
			if _, err := c.conn.Write(c.unacked[0]); err != nil {
				return nil, err
			}
		}
		// Anything else between packets is skipped.
	}
}

// readBody reads the rest of a frame whose '$' has been read.
func (c *Client) readBody() ([]byte, error) {
	body, err := c.r.ReadSlice('#')
	if err != nil {
		if errors.Is(err, bufio.ErrBufferFull) {
			return nil, fmt.Errorf("%w: packet longer than %d bytes", ErrMalformed, c.r.Size())
		}
		return nil, err
	}
	frame := make([]byte, 0, len(body)+3)
	frame = append(append(frame, '$'), body...)
	for range 2 {
		b, err := c.r.ReadByte()
		if err != nil {
			return nil, err
		}
		frame = append(frame, b)
	}
	return frame, nil
}

// StopReply is a stop reply ("T05thread:01;" or "S05").
type StopReply struct {
	// Signal is the stop signal: 2 (SIGINT) after Interrupt, 5 (SIGTRAP)
	// on attach.
	Signal uint8
	// Raw is the whole reply.
	Raw string
}

func parseStop(r string) (StopReply, error) {
	if len(r) >= 3 && (r[0] == 'T' || r[0] == 'S') {
		if sig, err := strconv.ParseUint(r[1:3], 16, 8); err == nil {
			return StopReply{Signal: uint8(sig), Raw: r}, nil
		}
	}
	if len(r) > 0 && (r[0] == 'W' || r[0] == 'X') {
		return StopReply{}, fmt.Errorf("%w: %q", ErrExited, r)
	}
	return StopReply{}, fmt.Errorf("%w: not a stop reply: %q", ErrMalformed, r)
}

// HaltReason asks why the guest is stopped ('?').
func (c *Client) HaltReason() (StopReply, error) {
	r, err := c.Request("?")
	if err != nil {
		return StopReply{}, err
	}
	return parseStop(r)
}

// Continue lets the guest run ('c'). The stub answers only when the guest
// stops again, which Interrupt waits for; its acknowledgment is read then
// too, so that resuming costs no round trip.
func (c *Client) Continue() error {
	if c.running {
		return ErrRunning
	}
	if err := c.write(nil, []string{"c"}); err != nil {
		return err
	}
	c.running = true
	return nil
}

// Interrupt stops the running guest (the 0x03 byte) and waits for the stop
// reply.
func (c *Client) Interrupt() (StopReply, error) {
	s, _, err := c.InterruptWith()
	return s, err
}

// InterruptWith stops the running guest and sends cmds in the same write,
// to be answered once it has stopped (QEMU stops the guest before it reads
// on): the stop and the first requests take one round trip.
func (c *Client) InterruptWith(cmds ...string) (StopReply, []string, error) {
	if !c.running {
		return StopReply{}, nil, ErrStopped
	}
	before := c.sent
	if err := c.write([]byte{0x03}, cmds); err != nil {
		return StopReply{}, nil, fmt.Errorf("gdbstub: interrupting: %w", err)
	}
	r, err := c.recv("interrupt", before)
	if err != nil {
		return StopReply{}, nil, err
	}
	c.running = false
	s, err := parseStop(r)
	if err != nil {
		return s, nil, err
	}
	replies, err := c.replies(cmds)
	return s, replies, err
}

// Register numbers of the general-purpose registers in AMD64Regs.GPR, in
// the order of QEMU's x86_64 register set (gdb's i386:x86-64).
const (
	RAX = iota
	RBX
	RCX
	RDX
	RSI
	RDI
	RBP
	RSP
	R8
	R9
	R10
	R11
	R12
	R13
	R14
	R15
)

// AMD64Regs is the head of an x86_64 'g' reply: the general-purpose
// registers, RIP, EFLAGS and the segment selectors. The rest (bases,
// control, x87 and SSE registers) is not decoded.
type AMD64Regs struct {
	GPR    [16]uint64
	RIP    uint64
	EFLAGS uint32
	// Seg holds CS, SS, DS, ES, FS and GS.
	Seg [6]uint32
}

// amd64RegsLen is the bytes of a 'g' reply AMD64Regs decodes.
const amd64RegsLen = 17*8 + 4 + 6*4

// ReadRegisters reads the stopped vCPU's registers ('g').
func (c *Client) ReadRegisters() (AMD64Regs, error) {
	r, err := c.Request("g")
	if err != nil {
		return AMD64Regs{}, err
	}
	return ParseAMD64Regs(r)
}

// InterruptRegisters stops the running guest and reads its registers in
// one round trip.
func (c *Client) InterruptRegisters() (StopReply, AMD64Regs, error) {
	s, r, err := c.InterruptWith("g")
	if err != nil {
		return s, AMD64Regs{}, err
	}
	regs, err := ParseAMD64Regs(r[0])
	return s, regs, err
}

// ParseAMD64Regs decodes a 'g' reply.
func ParseAMD64Regs(r string) (AMD64Regs, error) {
	var regs AMD64Regs
	if len(r) < 2*amd64RegsLen {
		return regs, fmt.Errorf("%w: 'g' reply of %d hex digits, want at least %d", ErrMalformed, len(r), 2*amd64RegsLen)
	}
	b, err := hex.DecodeString(r[:2*amd64RegsLen])
	if err != nil {
		// Unavailable registers come as "xx"; these ones never are.
		return regs, fmt.Errorf("%w: 'g' reply: %v", ErrMalformed, err)
	}
	le64 := func(i int) uint64 {
		var v uint64
		for k := 7; k >= 0; k-- {
			v = v<<8 | uint64(b[i+k])
		}
		return v
	}
	for i := range regs.GPR {
		regs.GPR[i] = le64(8 * i)
	}
	regs.RIP = le64(16 * 8)
	regs.EFLAGS = uint32(le64(17*8) & 0xffffffff)
	for i := range regs.Seg {
		o := 17*8 + 4 + 4*i
		regs.Seg[i] = uint32(b[o]) | uint32(b[o+1])<<8 | uint32(b[o+2])<<16 | uint32(b[o+3])<<24
	}
	return regs, nil
}

// ReadMemory reads n bytes of guest memory at addr ('m addr,len'), in
// pieces that fit the stub's packet size, sent together. Unmapped memory
// is an *ErrorReply.
func (c *Client) ReadMemory(addr uint64, n int) ([]byte, error) {
	out := make([]byte, 0, n)
	chunk := c.maxPacket/2 - 8
	var cmds []string
	var sizes []int
	for o := 0; o < n; o += chunk {
		k := min(n-o, chunk)
		cmds = append(cmds, fmt.Sprintf("m%x,%x", addr+uint64(o), k))
		sizes = append(sizes, k)
	}
	rs, err := c.Requests(cmds...)
	if err != nil {
		return nil, err
	}
	for i, r := range rs {
		b, err := hex.DecodeString(r)
		if err != nil || len(b) != sizes[i] {
			return nil, fmt.Errorf("%w: reply to %q: %d hex digits", ErrMalformed, cmds[i], len(r))
		}
		out = append(out, b...)
	}
	return out, nil
}

// Detach lets the guest run on and ends the session ('D'), stopping the
// guest first if it runs.
func (c *Client) Detach() error {
	if c.running {
		if _, err := c.Interrupt(); err != nil {
			return err
		}
	}
	_, err := c.Request("D")
	if err == nil {
		c.running = true
	}
	return err
}

// Close detaches (so that QEMU does not leave the guest stopped) and
// closes the connection.
func (c *Client) Close() error {
	derr := c.Detach()
	if err := c.conn.Close(); err != nil {
		return err
	}
	return derr
}
