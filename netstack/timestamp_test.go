package netstack

import (
	"bytes"
	"encoding/binary"
	"errors"
	"syscall"
	"testing"
	"time"

	"github.com/kaidoku-net/kaidoku/netstack/internal/wire"
	"github.com/kaidoku-net/kaidoku/netstack/socket"
)

// Receive timestamps: SO_TIMESTAMP, SO_TIMESTAMPNS and SO_TIMESTAMPING
// as Linux v6.8 delivers them (net_timestamp_check at netif_receive_skb,
// sock_recv_timestamp / __sock_recv_timestamp at recvmsg). The stack's
// real-time clock is the fake clock, so stamps are exact.

type sockopt struct{ name, v int }

// tsCmsg is the expected control data for a stamp: an SCM_TIMESTAMP
// timeval, SCM_TIMESTAMPNS timespec or SCM_TIMESTAMPING's three
// timespecs (software in [0]).
func tsCmsg(typ int, ns int64) []byte {
	sec, nsec := ns/1e9, ns%1e9
	d := make([]byte, 16)
	binary.LittleEndian.PutUint64(d, uint64(sec))
	switch typ {
	case socket.SoTimestamp, socket.SoTimestampNew:
		binary.LittleEndian.PutUint64(d[8:], uint64(nsec/1000))
	case socket.SoTimestamping, socket.SoTimestampingNew:
		binary.LittleEndian.PutUint64(d[8:], uint64(nsec))
		d = append(d, make([]byte, 32)...)
	default:
		binary.LittleEndian.PutUint64(d[8:], uint64(nsec))
	}
	return cmsgBytes(socket.SolSocket, typ, d)
}

// TestRecvTimestampOptions: which timestamp messages each combination of
// options gives, with which type, layout and stamp: the arrival time
// (t1) when stamping was on as the datagram came in, the read time (t2)
// for SO_TIMESTAMP(NS) when it was not (the datagram was queued before
// any socket asked), and nothing for SO_TIMESTAMPING without a stamp.
func TestRecvTimestampOptions(t *testing.T) {
	const t1 = int64(1000*time.Second + 123456789)
	const t2 = t1 + int64(5*time.Millisecond) + 4321
	const (
		rx, sw = socket.SofTimestampingRxSoftware, socket.SofTimestampingSoftware
		hw     = socket.SofTimestampingRxHardware | socket.SofTimestampingRawHardware
	)
	type want struct {
		typ int
		at  int64
	}
	for _, c := range []struct {
		name   string
		opts   []sockopt
		late   bool      // set the options after the datagram is queued
		other  []sockopt // options of another socket, set first
		closed bool      // … which is closed before the datagram comes
		want   []want
	}{
		{name: "none"},
		{name: "SO_TIMESTAMP", opts: []sockopt{{socket.SoTimestamp, 1}}, want: []want{{socket.SoTimestamp, t1}}},
		{name: "SO_TIMESTAMPNS", opts: []sockopt{{socket.SoTimestampns, 1}}, want: []want{{socket.SoTimestampns, t1}}},
		{name: "SO_TIMESTAMP_NEW", opts: []sockopt{{socket.SoTimestampNew, 1}}, want: []want{{socket.SoTimestampNew, t1}}},
		{name: "SO_TIMESTAMPNS_NEW", opts: []sockopt{{socket.SoTimestampnsNew, 1}}, want: []want{{socket.SoTimestampnsNew, t1}}},
		{name: "NS then TIMESTAMP: the last wins", opts: []sockopt{{socket.SoTimestampns, 1}, {socket.SoTimestamp, 1}},
			want: []want{{socket.SoTimestamp, t1}}},
		{name: "TIMESTAMP then NS", opts: []sockopt{{socket.SoTimestamp, 1}, {socket.SoTimestampns, 1}},
			want: []want{{socket.SoTimestampns, t1}}},
		{name: "SO_TIMESTAMP off ends SO_TIMESTAMPNS", opts: []sockopt{{socket.SoTimestampns, 1}, {socket.SoTimestamp, 0}}},
		{name: "TIMESTAMPING rx|sw", opts: []sockopt{{socket.SoTimestamping, rx | sw}}, want: []want{{socket.SoTimestamping, t1}}},
		{name: "TIMESTAMPING_NEW rx|sw", opts: []sockopt{{socket.SoTimestampingNew, rx | sw}}, want: []want{{socket.SoTimestampingNew, t1}}},
		{name: "TIMESTAMPING rx alone reports nothing", opts: []sockopt{{socket.SoTimestamping, rx}}},
		{name: "TIMESTAMPING sw alone: no stamp taken", opts: []sockopt{{socket.SoTimestamping, sw}}},
		{name: "TIMESTAMPING sw, another socket stamps", opts: []sockopt{{socket.SoTimestamping, sw}},
			other: []sockopt{{socket.SoTimestamp, 1}}, want: []want{{socket.SoTimestamping, t1}}},
		{name: "TIMESTAMPING sw, the other socket turned it off but holds the enable", opts: []sockopt{{socket.SoTimestamping, sw}},
			other: []sockopt{{socket.SoTimestamp, 1}, {socket.SoTimestamp, 0}}, want: []want{{socket.SoTimestamping, t1}}},
		{name: "TIMESTAMPING sw, the other socket closed", opts: []sockopt{{socket.SoTimestamping, sw}},
			other: []sockopt{{socket.SoTimestamp, 1}}, closed: true},
		{name: "TIMESTAMPING sw, the other's rx flag cleared", opts: []sockopt{{socket.SoTimestamping, sw}},
			other: []sockopt{{socket.SoTimestamping, rx}, {socket.SoTimestamping, 0}}},
		{name: "hardware flags: accepted, nothing", opts: []sockopt{{socket.SoTimestamping, hw}}},
		{name: "hardware and software", opts: []sockopt{{socket.SoTimestamping, hw | rx | sw}}, want: []want{{socket.SoTimestamping, t1}}},
		{name: "both families", opts: []sockopt{{socket.SoTimestampns, 1}, {socket.SoTimestamping, rx | sw}},
			want: []want{{socket.SoTimestampns, t1}, {socket.SoTimestamping, t1}}},
		{name: "TIMESTAMPING_NEW switches SO_TIMESTAMP's type", opts: []sockopt{{socket.SoTimestamp, 1}, {socket.SoTimestampingNew, rx | sw}},
			want: []want{{socket.SoTimestampNew, t1}, {socket.SoTimestampingNew, t1}}},
		{name: "SO_TIMESTAMP switches TIMESTAMPING_NEW's type", opts: []sockopt{{socket.SoTimestampingNew, rx | sw}, {socket.SoTimestamp, 1}},
			want: []want{{socket.SoTimestamp, t1}, {socket.SoTimestamping, t1}}},
		{name: "late SO_TIMESTAMP: stamped at read", opts: []sockopt{{socket.SoTimestamp, 1}}, late: true,
			want: []want{{socket.SoTimestamp, t2}}},
		{name: "late TIMESTAMPING: no stamp", opts: []sockopt{{socket.SoTimestamping, rx | sw}}, late: true},
		{name: "late both: the read-time stamp in both", opts: []sockopt{{socket.SoTimestampns, 1}, {socket.SoTimestamping, sw}}, late: true,
			want: []want{{socket.SoTimestampns, t2}, {socket.SoTimestamping, t2}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t)
			e.clk.Set(t1)
			if c.other != nil {
				o := e.bound(0, 7001)
				for _, op := range c.other {
					if err := o.SetsockoptInt(socket.SolSocket, op.name, op.v); err != nil {
						t.Fatal(err)
					}
				}
				if c.closed {
					o.Close()
				}
			}
			s := e.bound(0, 7000)
			set := func() {
				for _, op := range c.opts {
					if err := s.SetsockoptInt(socket.SolSocket, op.name, op.v); err != nil {
						t.Fatalf("setsockopt(%d, %#x): %v", op.name, op.v, err)
					}
				}
			}
			if !c.late {
				set()
			}
			e.send(udpPkt(7000, []byte("stamp me")))
			if c.late {
				set()
			}
			e.clk.Set(t2)
			var wantCtl []byte
			for _, w := range c.want {
				wantCtl = append(wantCtl, tsCmsg(w.typ, w.at)...)
			}
			m := socket.Msghdr{Control: make([]byte, 256)}
			if n, err := s.RecvMsg(make([]byte, 64), socket.MsgDontwait, &m); err != nil || n != 8 {
				t.Fatalf("recvmsg %d, %v", n, err)
			}
			if got := m.Control[:m.Controllen]; !bytes.Equal(got, wantCtl) || m.Flags != 0 {
				t.Fatalf("flags %#x control\n got % x\nwant % x", m.Flags, got, wantCtl)
			}
			ts, ok := m.RxTimestamp()
			if ok != (len(c.want) > 0) || (ok && ts.UnixNano() != c.want[0].at) {
				t.Errorf("RxTimestamp %v %v, want %v", ts.UnixNano(), ok, c.want)
			}
		})
	}
}

// TestTimestampGetsockopt: getsockopt of every timestamp option after a
// sequence of setsockopts (sk_getsockopt: SO_TIMESTAMP_OLD is on only
// in µs and the old types, SO_TIMESTAMP_NEW whenever SOCK_RCVTSTAMP and
// SOCK_TSTAMP_NEW are set, SO_TIMESTAMPING_NEW reads 0 unless the flags
// were set through it).
func TestTimestampGetsockopt(t *testing.T) {
	names := []int{socket.SoTimestamp, socket.SoTimestampns, socket.SoTimestampNew, socket.SoTimestampnsNew,
		socket.SoTimestamping, socket.SoTimestampingNew}
	const rxsw = socket.SofTimestampingRxSoftware | socket.SofTimestampingSoftware
	for _, c := range []struct {
		name string
		set  []sockopt
		want []int // in the order of names
	}{
		{"fresh", nil, []int{0, 0, 0, 0, 0, 0}},
		{"SO_TIMESTAMP", []sockopt{{socket.SoTimestamp, 1}}, []int{1, 0, 0, 0, 0, 0}},
		{"SO_TIMESTAMPNS", []sockopt{{socket.SoTimestampns, 1}}, []int{0, 1, 0, 0, 0, 0}},
		{"SO_TIMESTAMP_NEW", []sockopt{{socket.SoTimestampNew, 1}}, []int{0, 0, 1, 0, 0, 0}},
		{"SO_TIMESTAMPNS_NEW", []sockopt{{socket.SoTimestampnsNew, 1}}, []int{0, 0, 1, 1, 0, 0}},
		{"TIMESTAMP off", []sockopt{{socket.SoTimestampns, 1}, {socket.SoTimestamp, 0}}, []int{0, 0, 0, 0, 0, 0}},
		{"value 7 is on", []sockopt{{socket.SoTimestamp, 7}}, []int{1, 0, 0, 0, 0, 0}},
		{"TIMESTAMPING", []sockopt{{socket.SoTimestamping, rxsw}}, []int{0, 0, 0, 0, rxsw, 0}},
		{"TIMESTAMPING_NEW", []sockopt{{socket.SoTimestampingNew, rxsw}}, []int{0, 0, 0, 0, rxsw, rxsw}},
		{"TIMESTAMPING_NEW then SO_TIMESTAMP", []sockopt{{socket.SoTimestampingNew, rxsw}, {socket.SoTimestamp, 1}},
			[]int{1, 0, 0, 0, rxsw, 0}},
		{"SO_TIMESTAMPNS then TIMESTAMPING_NEW", []sockopt{{socket.SoTimestampns, 1}, {socket.SoTimestampingNew, 4}},
			[]int{0, 0, 1, 1, 4, 4}},
		{"hardware flags read back", []sockopt{{socket.SoTimestamping, socket.SofTimestampingRxHardware | socket.SofTimestampingRawHardware}},
			[]int{0, 0, 0, 0, 0x44, 0}},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t)
			s := e.socket()
			for _, op := range c.set {
				if err := s.SetsockoptInt(socket.SolSocket, op.name, op.v); err != nil {
					t.Fatal(err)
				}
			}
			for i, n := range names {
				if v, err := s.GetsockoptInt(socket.SolSocket, n); err != nil || v != c.want[i] {
					t.Errorf("getsockopt(%d) = %d, %v; want %d", n, v, err, c.want[i])
				}
			}
		})
	}
}

// TestSetsockoptTimestampingErrors: sock_set_timestamping's checks, in
// the int and the struct so_timestamping forms; a refused call changes
// nothing.
func TestSetsockoptTimestampingErrors(t *testing.T) {
	for _, c := range []struct {
		name  string
		bind  string // SO_BINDTODEVICE first
		flags uint32
		want  error
	}{
		{"all v6.8 flags but BIND_PHC", "", socket.SofTimestampingMask &^ socket.SofTimestampingBindPHC, nil},
		{"unknown flag", "", socket.SofTimestampingMask + 1, syscall.EINVAL},
		{"OPT_ID_TCP without OPT_ID", "", socket.SofTimestampingOptIDTCP, syscall.EINVAL},
		{"OPT_ID_TCP with OPT_ID", "", socket.SofTimestampingOptIDTCP | socket.SofTimestampingOptID, nil},
		{"OPT_STATS without OPT_TSONLY", "", socket.SofTimestampingOptStats, syscall.EINVAL},
		{"BIND_PHC unbound", "", socket.SofTimestampingBindPHC, syscall.EOPNOTSUPP},
		{"BIND_PHC on eth0: no PTP clock", "eth0", socket.SofTimestampingBindPHC, syscall.EINVAL},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t)
			for _, long := range []bool{false, true} {
				s := e.socket()
				if c.bind != "" {
					if err := s.SetsockoptString(socket.SolSocket, socket.SoBindtodevice, c.bind); err != nil {
						t.Fatal(err)
					}
				}
				var err error
				if long {
					err = s.SetsockoptTimestamping(socket.SolSocket, socket.SoTimestamping, socket.SoTimestampingConfig{Flags: c.flags})
				} else {
					err = s.SetsockoptInt(socket.SolSocket, socket.SoTimestamping, int(c.flags))
				}
				if !errors.Is(err, c.want) || (err == nil) != (c.want == nil) {
					t.Fatalf("long form %v: %v, want %v", long, err, c.want)
				}
				got, _ := s.GetsockoptTimestamping(socket.SolSocket, socket.SoTimestamping)
				if wantF := map[bool]uint32{true: c.flags, false: 0}[c.want == nil]; got.Flags != wantF {
					t.Errorf("flags read back %#x, want %#x", got.Flags, wantF)
				}
			}
		})
	}
}

// TestTimestampOnlyWhenEnabled: the receive path reads the real-time
// clock only while some socket wants stamps (netstamp_needed_key), and
// closing the last such socket stops it.
func TestTimestampOnlyWhenEnabled(t *testing.T) {
	reads := 0
	var e *env
	e = newEnv(t, func(c *Config) {
		c.Realtime = func() int64 { reads++; return e.clk.Now() }
	})
	s := e.bound(0, 7000)
	e.send(udpPkt(7000, []byte("a")))
	if reads != 0 {
		t.Fatalf("%d clock reads with no socket asking", reads)
	}
	o := e.bound(0, 7001)
	o.SetsockoptInt(socket.SolSocket, socket.SoTimestamping, socket.SofTimestampingRxSoftware)
	e.send(udpPkt(7000, []byte("b")))
	if reads != 1 {
		t.Fatalf("%d clock reads with stamping on, want 1", reads)
	}
	o.Close()
	e.send(udpPkt(7000, []byte("c")))
	if reads != 1 {
		t.Fatalf("%d clock reads after the last socket closed, want 1", reads)
	}
	for range 3 {
		recvNB(t, s, 10)
	}
}

// TestTimestampPeekKeepsStamp: a read-time stamp given to a peeked
// datagram is stored in it (__net_timestamp), so that the read after
// the peek reports the same.
func TestTimestampPeekKeepsStamp(t *testing.T) {
	e := newEnv(t)
	s := e.bound(0, 7000)
	e.send(udpPkt(7000, []byte("a")))
	s.SetsockoptInt(socket.SolSocket, socket.SoTimestampns, 1)
	e.clk.Advance(time.Millisecond)
	var m1, m2 socket.Msghdr
	s.RecvMsg(make([]byte, 8), socket.MsgDontwait|socket.MsgPeek, &m1)
	e.clk.Advance(time.Millisecond)
	s.RecvMsg(make([]byte, 8), socket.MsgDontwait, &m2)
	if m1.TstampType != socket.SoTimestampns || m1.Tstamp != m2.Tstamp || m1.Tstamp != int64(1000*time.Second+time.Millisecond) {
		t.Fatalf("peek %d (%d), read %d (%d)", m1.Tstamp, m1.TstampType, m2.Tstamp, m2.TstampType)
	}
}

// TestTimestampPlaces: where the stamp is taken: at Stack.Receive for a
// frame (before the stack's own processing), at netif_rx for what the
// host sends itself (not at the later backlog poll), and for a
// reassembled datagram the stamp of the fragment that completed it.
func TestTimestampPlaces(t *testing.T) {
	e := newEnv(t)
	s := e.bound(0, 7000)
	s.SetsockoptInt(socket.SolSocket, socket.SoTimestampns, 1)
	stamp := func() int64 {
		t.Helper()
		var m socket.Msghdr
		if _, err := s.RecvMsg(make([]byte, 4000), socket.MsgDontwait, &m); err != nil {
			t.Fatal(err)
		}
		return m.Tstamp
	}

	t0 := e.clk.Now()
	d := udpDatagram(ipT, ipM, 40000, 7000, bigPayload(2000))
	e.send(frag(d, 0, 1480, true, 77))
	e.clk.Advance(3 * time.Millisecond)
	e.send(frag(d, 1480, len(d)-1480, false, 77))
	e.clk.Advance(time.Second)
	if got, want := stamp(), t0+int64(3*time.Millisecond); got != want {
		t.Errorf("reassembled: stamp %d, want the last fragment's %d", got, want)
	}

	cli := e.socket()
	t1 := e.clk.Now()
	if _, err := cli.SendTo([]byte("lo"), 0, sa(wire.AddrOf(127, 0, 0, 1), 7000)); err != nil {
		t.Fatal(err)
	}
	e.clk.Advance(time.Second)
	if got := stamp(); got != t1 {
		t.Errorf("loopback: stamp %d, want the send time %d", got, t1)
	}
}

// TestTimestampControlOrder: the timestamp messages come first, before
// SO_RXQ_OVFL and IP_PKTINFO (sock_recv_cmsgs, then
// ip_cmsg_recv_offset), and a control buffer with room for the first
// alone gets it with MSG_CTRUNC.
func TestTimestampControlOrder(t *testing.T) {
	e := newEnv(t)
	s := e.bound(0, 7000)
	s.SetsockoptInt(socket.SolSocket, socket.SoRxqOvfl, 1)
	s.SetsockoptInt(socket.SolIP, socket.IPPktinfo, 1)
	s.SetsockoptInt(socket.SolSocket, socket.SoTimestamp, 1)
	s.SetsockoptInt(socket.SolSocket, socket.SoTimestamping, socket.SofTimestampingRxSoftware|socket.SofTimestampingSoftware)
	s.SetsockoptInt(socket.SolSocket, socket.SoRcvbuf, 0) // one datagram queued
	e.send(udpPkt(7000, []byte("a")))
	e.send(udpPkt(7000, []byte("dropped")))
	recvNB(t, s, 10)
	at := e.clk.Now()
	e.send(udpPkt(7000, []byte("b")))
	want := append(append(append(tsCmsg(socket.SoTimestamp, at), tsCmsg(socket.SoTimestamping, at)...),
		cmsgBytes(socket.SolSocket, socket.SoRxqOvfl, binary.LittleEndian.AppendUint32(nil, 1))...),
		cmsgBytes(socket.SolIP, socket.IPPktinfo, pktinfoData(2, ipM, ipM))...)
	m := socket.Msghdr{Control: make([]byte, 256)}
	s.RecvMsg(make([]byte, 10), socket.MsgPeek|socket.MsgDontwait, &m)
	if !bytes.Equal(m.Control[:m.Controllen], want) {
		t.Fatalf("control\n got % x\nwant % x", m.Control[:m.Controllen], want)
	}
	m = socket.Msghdr{Control: make([]byte, socket.CmsgSpace(socket.SizeofTimeval))}
	s.RecvMsg(make([]byte, 10), socket.MsgDontwait, &m)
	if m.Flags != socket.MsgCtrunc || !bytes.Equal(m.Control[:m.Controllen], want[:socket.CmsgSpace(socket.SizeofTimeval)]) {
		t.Fatalf("short buffer: flags %#x control % x", m.Flags, m.Control[:m.Controllen])
	}
}

// TestTimestampErrQueue: an error-queue message carries the stamp of
// the ICMP error it came from, before IP_RECVERR (ip_recv_error).
func TestTimestampErrQueue(t *testing.T) {
	e := newEnv(t)
	s := recvErrSocket(e, 7000)
	s.SetsockoptInt(socket.SolSocket, socket.SoTimestamping, socket.SofTimestampingRxSoftware|socket.SofTimestampingSoftware)
	at := e.clk.Now()
	e.send(icmpErrorQuoting(3, 3, 0, 7000, 9000, []byte("quoted")))
	e.clk.Advance(time.Second)
	m := socket.Msghdr{Control: make([]byte, 256)}
	if _, err := s.RecvMsg(make([]byte, 100), socket.MsgErrqueue, &m); err != nil {
		t.Fatal(err)
	}
	want := append(tsCmsg(socket.SoTimestamping, at),
		cmsgBytes(socket.SolIP, socket.IPRecverr, recvErrData(uint32(syscall.ECONNREFUSED), 3, 3, 0, ipRouter))...)
	if !bytes.Equal(m.Control[:m.Controllen], want) {
		t.Fatalf("control\n got % x\nwant % x", m.Control[:m.Controllen], want)
	}
}

// TestIoctlHwtstamp: SIOCGHWTSTAMP and SIOCSHWTSTAMP as on Linux's
// virtio-net, which has no hardware clock: EOPNOTSUPP for a valid
// request, after dev_ioctl's device lookup (ENODEV) and
// net_hwtstamp_validate (EINVAL for flags, ERANGE for types).
func TestIoctlHwtstamp(t *testing.T) {
	e := newEnv(t)
	s := e.socket()
	for _, c := range []struct {
		req  int
		dev  string
		cfg  socket.HwtstampConfig
		want error
	}{
		{socket.SIOCGHWTSTAMP, "eth0", socket.HwtstampConfig{}, syscall.EOPNOTSUPP},
		{socket.SIOCGHWTSTAMP, "lo", socket.HwtstampConfig{}, syscall.EOPNOTSUPP},
		{socket.SIOCGHWTSTAMP, "eth9", socket.HwtstampConfig{}, syscall.ENODEV},
		{socket.SIOCSHWTSTAMP, "eth0", socket.HwtstampConfig{TxType: 1, RxFilter: 1}, syscall.EOPNOTSUPP},
		{socket.SIOCSHWTSTAMP, "eth0", socket.HwtstampConfig{TxType: 3, RxFilter: 15, Flags: 1}, syscall.EOPNOTSUPP},
		{socket.SIOCSHWTSTAMP, "eth0", socket.HwtstampConfig{Flags: 2}, syscall.EINVAL},
		{socket.SIOCSHWTSTAMP, "eth0", socket.HwtstampConfig{TxType: 4}, syscall.ERANGE},
		{socket.SIOCSHWTSTAMP, "eth0", socket.HwtstampConfig{RxFilter: 16}, syscall.ERANGE},
		{socket.SIOCSHWTSTAMP, "eth0", socket.HwtstampConfig{RxFilter: -1}, syscall.ERANGE},
		{socket.SIOCSHWTSTAMP, "nope", socket.HwtstampConfig{Flags: 2}, syscall.ENODEV},
	} {
		cfg := c.cfg
		if err := s.IoctlHwtstamp(c.req, c.dev, &cfg); !errors.Is(err, c.want) {
			t.Errorf("ioctl(%#x, %s, %+v): %v, want %v", c.req, c.dev, c.cfg, err, c.want)
		}
	}
}

// TestIoctlGetStamp: SIOCGSTAMP and SIOCGSTAMPNS (sock_gettstamp over
// the sk_stamp sock_recv_cmsgs keeps): ENOENT before the first read; the
// time of the call for a datagram that came unstamped, kept for later
// calls; the arrival stamp once the first call has enabled stamping;
// never updated by reads that deliver a timestamp message.
func TestIoctlGetStamp(t *testing.T) {
	e := newEnv(t)
	get := func(s *socket.Socket, req int) (int64, error) {
		t.Helper()
		sec, frac, err := s.IoctlGetStamp(req)
		if req == socket.SIOCGSTAMP {
			frac *= 1000
		}
		return sec*1e9 + frac, err
	}
	s := e.bound(0, 7000)
	e.send(udpPkt(7000, []byte("d1")))
	mustRecv(t, s, []byte("d1"))
	e.clk.Advance(time.Millisecond)
	t2 := e.clk.Now()
	if ns, err := get(s, socket.SIOCGSTAMPNS); err != nil || ns != t2 {
		t.Fatalf("after an unstamped read: %d, %v; want the time of the call %d", ns, err, t2)
	}
	e.clk.Advance(time.Millisecond)
	if ns, _ := get(s, socket.SIOCGSTAMPNS); ns != t2 {
		t.Fatalf("second call %d, want %d kept", ns, t2)
	}
	t3 := e.clk.Now() + 1234
	e.clk.Set(t3)
	e.send(udpPkt(7000, []byte("d2")))
	e.clk.Advance(time.Millisecond)
	mustRecv(t, s, []byte("d2"))
	if ns, _ := get(s, socket.SIOCGSTAMPNS); ns != t3 {
		t.Fatalf("SIOCGSTAMPNS %d, want the arrival %d", ns, t3)
	}
	if ns, _ := get(s, socket.SIOCGSTAMP); ns != t3/1000*1000 {
		t.Fatalf("SIOCGSTAMP %d, want the arrival in µs %d", ns, t3/1000*1000)
	}
	if _, err := get(e.socket(), socket.SIOCGSTAMP); !errors.Is(err, syscall.ENOENT) {
		t.Fatalf("nothing read yet: %v, want ENOENT", err)
	}
	ts := e.bound(0, 7001, socket.SoTimestamp)
	e.send(udpPkt(7001, []byte("d3")))
	mustRecv(t, ts, []byte("d3"))
	if _, err := get(ts, socket.SIOCGSTAMP); !errors.Is(err, syscall.ENOENT) {
		t.Fatalf("after a read with SO_TIMESTAMP: %v, want ENOENT (sk_stamp untouched)", err)
	}
	if _, _, err := s.IoctlGetStamp(socket.FIONREAD); !errors.Is(err, syscall.ENOTTY) {
		t.Fatalf("FIONREAD through IoctlGetStamp: %v", err)
	}
}

// BenchmarkRxTimestamp is BenchmarkRxToRecvFrom through RecvMsg with a
// control buffer: without timestamps, and with each option delivering
// its message (one clock read at Stack.Receive, one message encoded).
func BenchmarkRxTimestamp(b *testing.B) {
	for _, c := range []struct {
		name string
		opt  sockopt
	}{
		{"off", sockopt{}},
		{"SO_TIMESTAMPNS", sockopt{socket.SoTimestampns, 1}},
		{"SO_TIMESTAMPING", sockopt{socket.SoTimestamping, socket.SofTimestampingRxSoftware | socket.SofTimestampingSoftware}},
	} {
		b.Run(c.name, func(b *testing.B) {
			be := newBenchEnv(b, 64, false)
			if c.opt.name != 0 {
				be.sock.SetsockoptInt(socket.SolSocket, c.opt.name, c.opt.v)
			}
			buf := make([]byte, 2048)
			m := socket.Msghdr{Control: make([]byte, 128)}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				be.inject(be.frame, false)
				if _, err := be.sock.RecvMsg(buf, socket.MsgDontwait, &m); err != nil {
					b.Fatal(err)
				}
			}
			if (m.Controllen != 0) != (c.opt.name != 0) {
				b.Fatalf("control %d bytes", m.Controllen)
			}
		})
	}
}
