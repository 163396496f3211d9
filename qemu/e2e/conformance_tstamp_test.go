package e2e

// Conformance cases for receive timestamps (SO_TIMESTAMP,
// SO_TIMESTAMPNS, SO_TIMESTAMPING): the control messages' presence,
// order, levels, types and lengths must match Linux's; the stamps
// themselves are checked for plausibility only, on the target's own
// clock: non-zero, never decreasing from one datagram to the next, and
// between the target's CLOCK_REALTIME read (OpClock) before the
// datagram was sent and after it was read.

import (
	"encoding/binary"
	"fmt"
	"syscall"

	"github.com/kaidoku-net/kaidoku/image/agent"
	"github.com/kaidoku-net/kaidoku/netstack/socket"
)

func init() { conformanceCases = append(conformanceCases, tstampCases...) }

// cmsg is one parsed control message.
type cmsg struct {
	level, typ, len int
	data            []byte
}

func (m cmsg) String() string { return fmt.Sprintf("{%d %d len %d}", m.level, m.typ, m.len) }

// parseCmsgs splits msg_control as x86_64 Linux lays it out.
func parseCmsgs(b []byte) ([]cmsg, error) {
	var out []cmsg
	for len(b) >= 16 {
		n := int(binary.LittleEndian.Uint64(b))
		if n < 16 || n > len(b) {
			return out, fmt.Errorf("cmsg_len %d with %d bytes left", n, len(b))
		}
		out = append(out, cmsg{level: int(int32(binary.LittleEndian.Uint32(b[8:]))),
			typ: int(int32(binary.LittleEndian.Uint32(b[12:]))), len: n, data: b[16:n]})
		b = b[min(socket.CmsgSpace(n-16), len(b)):]
	}
	return out, nil
}

// stampOf decodes a timestamp message's software stamp in ns: a
// timeval, a timespec or scm_timestamping's [0], checking the fraction
// is in range and, for SCM_TIMESTAMPING, that [1] and [2] (hardware)
// are zero.
func (c *cc) stampOf(m cmsg) int64 {
	c.t.Helper()
	le := func(i int) int64 { return int64(binary.LittleEndian.Uint64(m.data[8*i:])) }
	switch m.typ {
	case socket.SoTimestamp, socket.SoTimestampNew:
		if len(m.data) != socket.SizeofTimeval || le(1) < 0 || le(1) >= 1e6 {
			c.t.Fatalf("SCM_TIMESTAMP % x", m.data)
		}
		return le(0)*1e9 + le(1)*1e3
	case socket.SoTimestampns, socket.SoTimestampnsNew:
		if len(m.data) != socket.SizeofTimespec || le(1) < 0 || le(1) >= 1e9 {
			c.t.Fatalf("SCM_TIMESTAMPNS % x", m.data)
		}
		return le(0)*1e9 + le(1)
	case socket.SoTimestamping, socket.SoTimestampingNew:
		if len(m.data) != socket.SizeofScmTimestamping || le(1) < 0 || le(1) >= 1e9 || le(2)|le(3)|le(4)|le(5) != 0 {
			c.t.Fatalf("SCM_TIMESTAMPING % x", m.data)
		}
		return le(0)*1e9 + le(1)
	}
	c.t.Fatalf("not a timestamp message: %v", m)
	return 0
}

// clock reads the target's CLOCK_REALTIME.
func (c *cc) clock() int64 {
	c.t.Helper()
	return c.ok(agent.Request{Op: agent.OpClock}).Nsec
}

// recvCmsgs reads one datagram with a control buffer of controllen
// bytes and returns its control messages.
func (c *cc) recvCmsgs(fd, controllen int, data string) ([]cmsg, *agent.Response) {
	c.t.Helper()
	r := c.call(agent.Request{Op: agent.OpRecv, FD: fd, Len: 100, Flags: socket.MsgDontwait, Controllen: controllen})
	c.wantData(r, data)
	ms, err := parseCmsgs(r.Control)
	if err != nil {
		c.t.Fatalf("control % x: %v", r.Control, err)
	}
	return ms, r
}

// wantTypes checks the control messages' levels, types and lengths.
func (c *cc) wantTypes(what string, ms []cmsg, want ...[3]int) {
	c.t.Helper()
	got := make([][3]int, len(ms))
	for i, m := range ms {
		got[i] = [3]int{m.level, m.typ, m.len}
	}
	if want == nil {
		want = [][3]int{}
	}
	c.want(what, got, want)
}

// wantStampIn checks a stamp lies within [lo, hi] on the target's clock
// (lo less a µs for a timeval's truncation).
func (c *cc) wantStampIn(what string, ns, lo, hi int64) {
	c.t.Helper()
	if ns == 0 || ns < lo-1000 || ns > hi {
		c.t.Errorf("%s: stamp %d outside the target's clock window [%d, %d] (%+d ns, %+d ns)", what, ns, lo, hi, ns-lo, ns-hi)
	}
}

var (
	tsMsg   = func(typ, n int) [3]int { return [3]int{socket.SolSocket, typ, socket.CmsgLen(n)} }
	scmTv   = tsMsg(socket.SoTimestamp, socket.SizeofTimeval)
	scmTs   = tsMsg(socket.SoTimestampns, socket.SizeofTimespec)
	scmTsng = tsMsg(socket.SoTimestamping, socket.SizeofScmTimestamping)
	rxsw    = socket.SofTimestampingRxSoftware | socket.SofTimestampingSoftware
)

var tstampCases = []confCase{
	// Which socket gets which message, as sock_recv_timestamp decides,
	// and the global enable (netstamp_needed_key) one socket's option
	// gives every packet. It comes first among the timestamp cases: it
	// needs no socket to have asked for stamps when it starts.
	{name: "T01-timestamp-presence", run: func(c *cc) {
		a := c.socket("0.0.0.0:6400")
		b := c.socket("0.0.0.0:6401")
		src := addr(testerIP, 4000)
		c.send(src, 6400, "a1")
		c.send(src, 6401, "b1")
		// SOFTWARE reports stamps but asks for none: nobody has.
		c.ok(agent.Request{Op: agent.OpSetInt, FD: a, Level: socket.SolSocket, Name: socket.SoTimestamping, Value: socket.SofTimestampingSoftware})
		c.send(src, 6400, "a2")
		ms, _ := c.recvCmsgs(a, 256, "a1")
		c.wantTypes("a1: queued before any option", ms)
		ms, _ = c.recvCmsgs(a, 256, "a2")
		c.wantTypes("a2: SOFTWARE alone, no socket asked", ms)
		// SO_TIMESTAMP on b after b1 was queued: b1 is stamped when read.
		c.ok(agent.Request{Op: agent.OpSetInt, FD: b, Level: socket.SolSocket, Name: socket.SoTimestamp, Value: 1})
		t0 := c.clock()
		ms, _ = c.recvCmsgs(b, 256, "b1")
		t1 := c.clock()
		c.wantTypes("b1: SO_TIMESTAMP set after it was queued", ms, scmTv)
		if len(ms) == 1 {
			c.wantStampIn("b1 (stamped at read)", c.stampOf(ms[0]), t0, t1)
		}
		// b's option stamps every packet: a's SOFTWARE now reports.
		t0 = c.clock()
		c.send(src, 6400, "a3")
		ms, _ = c.recvCmsgs(a, 256, "a3")
		t1 = c.clock()
		c.wantTypes("a3: SOFTWARE while b has SO_TIMESTAMP", ms, scmTsng)
		if len(ms) == 1 {
			c.wantStampIn("a3", c.stampOf(ms[0]), t0, t1)
		}
		// RX_SOFTWARE alone asks but reports nothing.
		c.ok(agent.Request{Op: agent.OpSetInt, FD: a, Level: socket.SolSocket, Name: socket.SoTimestamping, Value: socket.SofTimestampingRxSoftware})
		c.send(src, 6400, "a4")
		ms, _ = c.recvCmsgs(a, 256, "a4")
		c.wantTypes("a4: RX_SOFTWARE alone", ms)
		// SO_TIMESTAMP off keeps b's enable until b is closed.
		c.ok(agent.Request{Op: agent.OpSetInt, FD: b, Level: socket.SolSocket, Name: socket.SoTimestamp, Value: 0})
		c.ok(agent.Request{Op: agent.OpSetInt, FD: a, Level: socket.SolSocket, Name: socket.SoTimestamping, Value: socket.SofTimestampingSoftware})
		c.send(src, 6400, "a5")
		c.send(src, 6401, "b2")
		ms, _ = c.recvCmsgs(a, 256, "a5")
		c.wantTypes("a5: b turned SO_TIMESTAMP off but holds the enable", ms, scmTsng)
		ms, _ = c.recvCmsgs(b, 256, "b2")
		c.wantTypes("b2: SO_TIMESTAMP off", ms)
	}},

	// Each option's message: level, type, length and a plausible stamp;
	// stamps never decrease over a burst.
	{name: "T02-timestamp-each-option", run: func(c *cc) {
		for i, o := range []struct {
			name, v int
			msg     [3]int
		}{
			{socket.SoTimestamp, 1, scmTv},
			{socket.SoTimestampns, 1, scmTs},
			{socket.SoTimestamping, rxsw, scmTsng},
			{socket.SoTimestampNew, 1, tsMsg(socket.SoTimestampNew, socket.SizeofTimeval)},
			{socket.SoTimestampnsNew, 1, tsMsg(socket.SoTimestampnsNew, socket.SizeofTimespec)},
			{socket.SoTimestampingNew, rxsw, tsMsg(socket.SoTimestampingNew, socket.SizeofScmTimestamping)},
		} {
			port := uint16(6410 + i)
			fd := c.socket(fmt.Sprintf("0.0.0.0:%d", port), sockOpt(o.name, o.v))
			t0 := c.clock()
			for _, d := range []string{"x", "y", "z"} {
				c.send(addr(testerIP, 4000), port, d)
			}
			var prev int64
			for _, d := range []string{"x", "y", "z"} {
				ms, _ := c.recvCmsgs(fd, 256, d)
				c.wantTypes(fmt.Sprintf("option %d, datagram %s", o.name, d), ms, o.msg)
				if len(ms) != 1 {
					continue
				}
				ns := c.stampOf(ms[0])
				c.wantStampIn(fmt.Sprintf("option %d, datagram %s", o.name, d), ns, t0, c.clock())
				if ns < prev {
					c.t.Errorf("option %d: datagram %s stamped %d, before the previous %d", o.name, d, ns, prev)
				}
				prev = ns
			}
		}
	}},

	// Several at once: SCM_TIMESTAMPNS, then SCM_TIMESTAMPING with the
	// same stamp, then IP_PKTINFO; the last of SO_TIMESTAMP and
	// SO_TIMESTAMPNS set wins; SO_TIMESTAMP off ends both; a control
	// buffer with room for the first message alone gets it and
	// MSG_CTRUNC; SO_TIMESTAMPING_NEW switches SO_TIMESTAMP's type.
	{name: "T03-timestamp-several", run: func(c *cc) {
		fd := c.socket("0.0.0.0:6420", sockOpt(socket.SoTimestamp, 1), sockOpt(socket.SoTimestampns, 1),
			sockOpt(socket.SoTimestamping, rxsw), ipOpt(socket.IPPktinfo, 1))
		src := addr(testerIP, 4000)
		c.send(src, 6420, "one")
		ms, _ := c.recvCmsgs(fd, 256, "one")
		c.wantTypes("SO_TIMESTAMP, SO_TIMESTAMPNS, SO_TIMESTAMPING, IP_PKTINFO", ms,
			scmTs, scmTsng, [3]int{socket.SolIP, socket.IPPktinfo, socket.CmsgLen(socket.SizeofInPktinfo)})
		if len(ms) == 3 && c.stampOf(ms[0]) != c.stampOf(ms[1]) {
			c.t.Errorf("SCM_TIMESTAMPNS %d and SCM_TIMESTAMPING %d differ", c.stampOf(ms[0]), c.stampOf(ms[1]))
		}
		c.send(src, 6420, "two")
		ms, r := c.recvCmsgs(fd, socket.CmsgSpace(socket.SizeofTimespec), "two")
		c.wantTypes("room for one", ms, scmTs)
		c.want("msg_flags", r.MsgFlags, socket.MsgCtrunc)

		c.ok(agent.Request{Op: agent.OpSetInt, FD: fd, Level: socket.SolIP, Name: socket.IPPktinfo, Value: 0})
		c.ok(agent.Request{Op: agent.OpSetInt, FD: fd, Level: socket.SolSocket, Name: socket.SoTimestampingNew, Value: rxsw})
		c.ok(agent.Request{Op: agent.OpSetInt, FD: fd, Level: socket.SolSocket, Name: socket.SoTimestamp, Value: 1})
		c.send(src, 6420, "three")
		ms, _ = c.recvCmsgs(fd, 256, "three")
		c.wantTypes("SO_TIMESTAMP after SO_TIMESTAMPING_NEW", ms, scmTv, scmTsng)
		c.ok(agent.Request{Op: agent.OpSetInt, FD: fd, Level: socket.SolSocket, Name: socket.SoTimestampingNew, Value: rxsw})
		c.send(src, 6420, "four")
		ms, _ = c.recvCmsgs(fd, 256, "four")
		c.wantTypes("SO_TIMESTAMPING_NEW after SO_TIMESTAMP", ms,
			tsMsg(socket.SoTimestampNew, socket.SizeofTimeval), tsMsg(socket.SoTimestampingNew, socket.SizeofScmTimestamping))
		c.ok(agent.Request{Op: agent.OpSetInt, FD: fd, Level: socket.SolSocket, Name: socket.SoTimestamping, Value: 0})
		c.ok(agent.Request{Op: agent.OpSetInt, FD: fd, Level: socket.SolSocket, Name: socket.SoTimestampns, Value: 1})
		c.ok(agent.Request{Op: agent.OpSetInt, FD: fd, Level: socket.SolSocket, Name: socket.SoTimestamp, Value: 0})
		c.send(src, 6420, "five")
		ms, _ = c.recvCmsgs(fd, 256, "five")
		c.wantTypes("SO_TIMESTAMP off ends SO_TIMESTAMPNS", ms)
	}},

	// getsockopt of each option after each setsockopt.
	{name: "T04-timestamp-getsockopt", run: func(c *cc) {
		names := []int{socket.SoTimestamp, socket.SoTimestampns, socket.SoTimestamping,
			socket.SoTimestampNew, socket.SoTimestampnsNew, socket.SoTimestampingNew}
		fd := c.socket("")
		for _, step := range []struct {
			set  [2]int
			want []int
		}{
			{[2]int{}, []int{0, 0, 0, 0, 0, 0}},
			{[2]int{socket.SoTimestamp, 1}, []int{1, 0, 0, 0, 0, 0}},
			{[2]int{socket.SoTimestampns, 1}, []int{0, 1, 0, 0, 0, 0}},
			{[2]int{socket.SoTimestampnsNew, 1}, []int{0, 0, 0, 1, 1, 0}},
			{[2]int{socket.SoTimestamp, 0}, []int{0, 0, 0, 0, 0, 0}},
			{[2]int{socket.SoTimestampNew, 5}, []int{0, 0, 0, 1, 0, 0}},
			{[2]int{socket.SoTimestamping, rxsw}, []int{1, 0, rxsw, 0, 0, 0}},
			{[2]int{socket.SoTimestampingNew, socket.SofTimestampingSoftware}, []int{0, 0, 0x10, 1, 0, 0x10}},
			{[2]int{socket.SoTimestamping, 0}, []int{1, 0, 0, 0, 0, 0}},
		} {
			if step.set[0] != 0 {
				c.ok(agent.Request{Op: agent.OpSetInt, FD: fd, Level: socket.SolSocket, Name: step.set[0], Value: step.set[1]})
			}
			got := make([]int, len(names))
			for i, n := range names {
				got[i] = c.ok(agent.Request{Op: agent.OpGetInt, FD: fd, Level: socket.SolSocket, Name: n}).Value
			}
			c.want(fmt.Sprintf("after setsockopt(%d, %#x): getsockopt of %v", step.set[0], step.set[1], names), got, step.want)
		}
	}},

	// Hardware stamps, reported unsupported as on virtio-net: the
	// socket flags are accepted and read back but no stamp comes; the
	// device has no hardware clock to read or configure; no PTP clock
	// can be bound; sock_set_timestamping's own checks.
	{name: "T05-timestamp-hardware", run: func(c *cc) {
		hw := socket.SofTimestampingRxHardware | socket.SofTimestampingRawHardware
		fd := c.socket("0.0.0.0:6430", sockOpt(socket.SoTimestamping, hw))
		c.want("getsockopt(SO_TIMESTAMPING)", c.ok(agent.Request{Op: agent.OpGetInt, FD: fd, Level: socket.SolSocket, Name: socket.SoTimestamping}).Value, hw)
		c.send(addr(testerIP, 4000), 6430, "hw")
		ms, _ := c.recvCmsgs(fd, 256, "hw")
		c.wantTypes("RX_HARDWARE|RAW_HARDWARE", ms)
		for _, e := range []struct {
			req, flags, tx, rx int
			dev                string
			want               syscall.Errno
		}{
			{socket.SIOCGHWTSTAMP, 0, 0, 0, "eth0", syscall.EOPNOTSUPP},
			{socket.SIOCSHWTSTAMP, 0, 1, 1, "eth0", syscall.EOPNOTSUPP},
			{socket.SIOCSHWTSTAMP, 2, 0, 0, "eth0", syscall.EINVAL},
			{socket.SIOCSHWTSTAMP, 0, 9, 0, "eth0", syscall.ERANGE},
			{socket.SIOCGHWTSTAMP, 0, 0, 0, "nosuch0", syscall.ENODEV},
		} {
			got := c.errno(agent.Request{Op: agent.OpHwtstamp, FD: fd, Name: e.req, Str: e.dev, HwtstampFlags: e.flags, Value: e.tx, How: e.rx})
			c.want(fmt.Sprintf("ioctl(%#x) on %s, config {%d %d %d}", e.req, e.dev, e.flags, e.tx, e.rx), got, e.want)
		}
		for _, e := range []struct {
			flags int
			want  syscall.Errno
		}{
			{1 << 17, syscall.EINVAL},
			{socket.SofTimestampingOptStats, syscall.EINVAL},
			{socket.SofTimestampingBindPHC, syscall.EOPNOTSUPP},
		} {
			got := c.errno(agent.Request{Op: agent.OpSetInt, FD: fd, Level: socket.SolSocket, Name: socket.SoTimestamping, Value: e.flags})
			c.want(fmt.Sprintf("SO_TIMESTAMPING %#x", e.flags), got, e.want)
		}
		c.ok(agent.Request{Op: agent.OpSetString, FD: fd, Level: socket.SolSocket, Name: socket.SoBindtodevice, Str: "eth0"})
		got := c.errno(agent.Request{Op: agent.OpSetInt, FD: fd, Level: socket.SolSocket, Name: socket.SoTimestamping, Value: socket.SofTimestampingBindPHC})
		c.want("SO_TIMESTAMPING BIND_PHC bound to eth0", got, syscall.EINVAL)
		c.want("flags after the refusals", c.ok(agent.Request{Op: agent.OpGetInt, FD: fd, Level: socket.SolSocket, Name: socket.SoTimestamping}).Value, hw)
	}},

	// SIOCGSTAMP and SIOCGSTAMPNS: ENOENT before the first read; after
	// a read, the arrival stamp (stamping is on: T01's and T02's sockets
	// are gone, but this case's first call enables it) within the
	// clock window; a read with SO_TIMESTAMP leaves them untouched.
	{name: "T06-timestamp-siocgstamp", run: func(c *cc) {
		stamp := func(fd, req int) (int64, syscall.Errno) {
			r := c.call(agent.Request{Op: agent.OpGetStamp, FD: fd, Name: req})
			if req == socket.SIOCGSTAMP {
				if r.Usec < 0 || r.Usec >= 1e6 {
					c.t.Fatalf("SIOCGSTAMP tv_usec %d", r.Usec)
				}
				return r.Sec*1e9 + r.Usec*1e3, syscall.Errno(r.Errno)
			}
			if r.Nsec < 0 || r.Nsec >= 1e9 {
				c.t.Fatalf("SIOCGSTAMPNS tv_nsec %d", r.Nsec)
			}
			return r.Sec*1e9 + r.Nsec, syscall.Errno(r.Errno)
		}
		fd := c.socket("0.0.0.0:6440")
		_, e := stamp(fd, socket.SIOCGSTAMP)
		c.want("SIOCGSTAMP before any read", e, syscall.ENOENT)
		t0 := c.clock()
		c.send(addr(testerIP, 4000), 6440, "s1")
		c.wantData(c.recv(fd, 100, 0), "s1")
		t1 := c.clock()
		ns, e := stamp(fd, socket.SIOCGSTAMPNS)
		c.want("SIOCGSTAMPNS after a read", e, syscall.Errno(0))
		c.wantStampIn("SIOCGSTAMPNS", ns, t0, t1)
		us, e := stamp(fd, socket.SIOCGSTAMP)
		c.want("SIOCGSTAMP after a read", e, syscall.Errno(0))
		c.want("SIOCGSTAMP is SIOCGSTAMPNS in µs", us, ns/1000*1000)

		tfd := c.socket("0.0.0.0:6441", sockOpt(socket.SoTimestamp, 1))
		c.send(addr(testerIP, 4000), 6441, "s2")
		c.wantData(c.recv(tfd, 100, 0), "s2")
		_, e = stamp(tfd, socket.SIOCGSTAMP)
		c.want("SIOCGSTAMP after a read with SO_TIMESTAMP", e, syscall.ENOENT)
	}},
}
