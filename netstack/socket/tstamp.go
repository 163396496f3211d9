package socket

import (
	"encoding/binary"
	"syscall"
	"time"

	"github.com/kaidoku-net/kaidoku/netstack/internal/udp"
)

// Receive timestamps.
//
// SO_TIMESTAMP, SO_TIMESTAMPNS and SO_TIMESTAMPING behave as on x86_64
// Linux v6.8, for software receive stamps:
//
//   - Where the stamp is taken: in Stack.Receive, as the frame enters
//     the stack (netif_receive_skb's net_timestamp_check), and for what
//     the host sends itself when it is queued on the backlog (netif_rx).
//     Only while some socket of the stack has SO_TIMESTAMP,
//     SO_TIMESTAMPNS or SOF_TIMESTAMPING_RX_SOFTWARE set (Linux's
//     netstamp_needed_key): otherwise the receive path reads no clock.
//     A socket that once set SO_TIMESTAMP(NS) or asked SIOCGSTAMP keeps
//     stamping enabled until it is closed, even after turning the
//     option off, as in Linux.
//   - On which clock: CLOCK_REALTIME (ktime_get_real), the stack's
//     Config.Realtime; in the image that is the board clock, which boot
//     sets to the wall time read from the RTC and which is never stepped
//     afterwards. A reassembled datagram carries the stamp of its last
//     fragment.
//   - SO_TIMESTAMP / SO_TIMESTAMPNS give SCM_TIMESTAMP (struct timeval)
//     or SCM_TIMESTAMPNS (struct timespec); the last one set wins, and
//     turning either off ends both. A datagram queued before stamping
//     was enabled is stamped when it is read.
//   - SO_TIMESTAMPING gives SCM_TIMESTAMPING (struct scm_timestamping:
//     three timespecs, the software stamp in [0]) when
//     SOF_TIMESTAMPING_SOFTWARE is set and the datagram has a stamp:
//     SOF_TIMESTAMPING_RX_SOFTWARE without SOFTWARE enables stamping
//     but reports nothing; SOFTWARE without RX_SOFTWARE reports the
//     stamps other sockets caused. Hardware flags (RX_HARDWARE,
//     RAW_HARDWARE, …) and transmit flags are accepted and read back,
//     as Linux accepts them on a virtio-net device, but no hardware or
//     transmit stamp is ever produced: the device has no hardware clock
//     (Linux's virtio-net: SIOCSHWTSTAMP fails with EOPNOTSUPP, ethtool
//     -T shows no PTP clock); see TimestampingInfo.
//   - Several at once: the SO_TIMESTAMP(NS) message comes first, then
//     SCM_TIMESTAMPING, then SO_RXQ_OVFL and IP_PKTINFO; both carry the
//     same stamp. The _NEW options (SO_TIMESTAMP_NEW …) have the same
//     layouts on 64-bit and only change the cmsg_type; setting any of
//     them, or SO_TIMESTAMPING_OLD, switches the cmsg types of both
//     families, since Linux keeps one SOCK_TSTAMP_NEW flag.
//   - Error-queue messages (MSG_ERRQUEUE) carry the stamp of the ICMP
//     error they came from.
//   - SIOCGSTAMP and SIOCGSTAMPNS read the last datagram's stamp back;
//     see IoctlGetStamp.
const (
	SoTimestamp       = udp.SoTimestampOld
	SoTimestampns     = udp.SoTimestampnsOld
	SoTimestamping    = udp.SoTimestampingOld
	SoTimestampNew    = udp.SoTimestampNew
	SoTimestampnsNew  = udp.SoTimestampnsNew
	SoTimestampingNew = udp.SoTimestampingNew

	ScmTimestamp    = SoTimestamp
	ScmTimestampns  = SoTimestampns
	ScmTimestamping = SoTimestamping

	SofTimestampingTxHardware  = udp.SofTimestampingTxHardware
	SofTimestampingTxSoftware  = udp.SofTimestampingTxSoftware
	SofTimestampingRxHardware  = udp.SofTimestampingRxHardware
	SofTimestampingRxSoftware  = udp.SofTimestampingRxSoftware
	SofTimestampingSoftware    = udp.SofTimestampingSoftware
	SofTimestampingSysHardware = udp.SofTimestampingSysHardware
	SofTimestampingRawHardware = udp.SofTimestampingRawHardware
	SofTimestampingOptID       = udp.SofTimestampingOptID
	SofTimestampingOptTsonly   = udp.SofTimestampingOptTsonly
	SofTimestampingOptStats    = udp.SofTimestampingOptStats
	SofTimestampingBindPHC     = udp.SofTimestampingBindPHC
	SofTimestampingOptIDTCP    = udp.SofTimestampingOptIDTCP
	SofTimestampingMask        = udp.SofTimestampingMask
)

// Sizes of the timestamp control-message payloads on x86_64.
const (
	SizeofTimeval         = 16 // struct timeval (__kernel_old_timeval, __kernel_sock_timeval)
	SizeofTimespec        = 16 // struct timespec (__kernel_old_timespec, __kernel_timespec)
	SizeofScmTimestamping = 3 * SizeofTimespec
)

// SoTimestampingConfig is struct so_timestamping, SO_TIMESTAMPING's
// argument in its long form.
type SoTimestampingConfig struct {
	Flags   uint32
	BindPHC int32
}

// TimestampingInfo is what `ethtool -T` reports for the stack's
// devices (struct ethtool_ts_info): software receive stamps, no
// hardware clock (PHCIndex −1), no hardware transmit types or receive
// filters. Unlike Linux's virtio-net, which also offers software
// transmit stamps, kaidoku produces none, so SOF_TIMESTAMPING_TX_SOFTWARE
// is not listed.
var TimestampingInfo = struct {
	SoTimestamping uint32
	PHCIndex       int
}{SoTimestamping: SofTimestampingRxSoftware | SofTimestampingSoftware, PHCIndex: -1}

// setsockoptTimestamp handles the timestamp options of SetsockoptInt;
// ok is false for any other option.
func (s *Socket) setsockoptTimestamp(name, v int) (ok bool, err error) {
	switch name {
	case SoTimestamp, SoTimestampns, SoTimestampNew, SoTimestampnsNew:
		s.sk.SetTimestamp(name, v != 0)
		return true, nil
	case SoTimestamping, SoTimestampingNew:
		// The int form: the flags, no PHC.
		return true, errno(s.sk.SetTimestamping(name, uint32(v), 0))
	}
	return false, nil
}

// getsockoptTimestamp handles the timestamp options of GetsockoptInt;
// SO_TIMESTAMPING reads as its flags (an int-sized so_timestamping).
func (s *Socket) getsockoptTimestamp(name int) (v int, ok bool) {
	switch name {
	case SoTimestamp, SoTimestampns, SoTimestampNew, SoTimestampnsNew:
		return b2i(s.sk.Timestamp(name)), true
	case SoTimestamping, SoTimestampingNew:
		f, _ := s.sk.Timestamping(name)
		return int(int32(f)), true
	}
	return 0, false
}

// SetsockoptTimestamping sets SO_TIMESTAMPING(_NEW) with struct
// so_timestamping, whose BindPHC is read when Flags has
// SOF_TIMESTAMPING_BIND_PHC. Errors: EINVAL for unknown flags,
// OPT_ID_TCP without OPT_ID or OPT_STATS without OPT_TSONLY;
// BIND_PHC is EOPNOTSUPP on a socket not bound to a device and EINVAL
// otherwise (no device has a PTP clock).
func (s *Socket) SetsockoptTimestamping(level, name int, c SoTimestampingConfig) error {
	if !s.get() {
		return syscall.EBADF
	}
	defer s.put()
	if level != SolSocket || (name != SoTimestamping && name != SoTimestampingNew) {
		return syscall.ENOPROTOOPT
	}
	return errno(s.sk.SetTimestamping(name, c.Flags, c.BindPHC))
}

// GetsockoptTimestamping reads SO_TIMESTAMPING(_NEW) back as struct
// so_timestamping. SO_TIMESTAMPING_NEW reads zero unless the flags were
// set through it, as in Linux.
func (s *Socket) GetsockoptTimestamping(level, name int) (SoTimestampingConfig, error) {
	if !s.get() {
		return SoTimestampingConfig{}, syscall.EBADF
	}
	defer s.put()
	if level != SolSocket || (name != SoTimestamping && name != SoTimestampingNew) {
		return SoTimestampingConfig{}, syscall.ENOPROTOOPT
	}
	f, phc := s.sk.Timestamping(name)
	return SoTimestampingConfig{Flags: f, BindPHC: phc}, nil
}

// RxTimestamp returns the software receive timestamp delivered with the
// message (from SCM_TIMESTAMPING, else SCM_TIMESTAMP or
// SCM_TIMESTAMPNS), and whether there was one.
func (m *Msghdr) RxTimestamp() (time.Time, bool) {
	switch {
	case m.TimestampingType != 0 && m.Timestamping[0] != 0:
		return time.Unix(0, m.Timestamping[0]), true
	case m.TstampType != 0:
		return time.Unix(0, m.Tstamp), true
	}
	return time.Time{}, false
}

// splitNs is ns_to_timespec64: seconds and non-negative nanoseconds.
func splitNs(ns int64) (sec, nsec int64) {
	sec, nsec = ns/1e9, ns%1e9
	if nsec < 0 {
		sec--
		nsec += 1e9
	}
	return sec, nsec
}

func putTimespec(d []byte, ns int64) {
	sec, nsec := splitNs(ns)
	binary.LittleEndian.PutUint64(d[0:], uint64(sec))
	binary.LittleEndian.PutUint64(d[8:], uint64(nsec))
}

// encodeTimestamps writes the timestamp messages of
// __sock_recv_timestamp: SCM_TIMESTAMP(NS), then SCM_TIMESTAMPING.
func (m *Msghdr) encodeTimestamps() {
	switch m.TstampType {
	case SoTimestamp, SoTimestampNew:
		var d [SizeofTimeval]byte
		sec, nsec := splitNs(m.Tstamp)
		binary.LittleEndian.PutUint64(d[0:], uint64(sec))
		binary.LittleEndian.PutUint64(d[8:], uint64(nsec/1000))
		m.putCmsg(SolSocket, m.TstampType, d[:])
	case SoTimestampns, SoTimestampnsNew:
		var d [SizeofTimespec]byte
		putTimespec(d[:], m.Tstamp)
		m.putCmsg(SolSocket, m.TstampType, d[:])
	}
	if m.TimestampingType != 0 {
		var d [SizeofScmTimestamping]byte
		for i, ns := range m.Timestamping {
			if ns != 0 {
				putTimespec(d[i*SizeofTimespec:], ns)
			}
		}
		m.putCmsg(SolSocket, m.TimestampingType, d[:])
	}
}

// Hardware timestamping ioctls (include/uapi/linux/sockios.h).
const (
	SIOCSHWTSTAMP = 0x89b0
	SIOCGHWTSTAMP = 0x89b1
)

// HwtstampConfig is struct hwtstamp_config.
type HwtstampConfig struct {
	Flags    int32
	TxType   int32 // HWTSTAMP_TX_*
	RxFilter int32 // HWTSTAMP_FILTER_*
}

// Limits of struct hwtstamp_config's fields in v6.8
// (net_hwtstamp_validate).
const (
	hwtstampFlagMask  = 1  // HWTSTAMP_FLAG_BONDED_PHC_INDEX
	hwtstampTxCnt     = 4  // __HWTSTAMP_TX_CNT
	hwtstampFilterCnt = 16 // __HWTSTAMP_FILTER_CNT
)

// IoctlHwtstamp is ioctl(SIOCSHWTSTAMP or SIOCGHWTSTAMP) on the
// interface called ifname (net/core/dev_ioctl.c: dev_set_hwtstamp,
// dev_get_hwtstamp): no device of that name is ENODEV; a set with
// unknown flags is EINVAL, with a tx_type or rx_filter out of range
// ERANGE; otherwise both are EOPNOTSUPP, as on Linux's virtio-net,
// which has no hardware clock to configure or read.
func (s *Socket) IoctlHwtstamp(req int, ifname string, cfg *HwtstampConfig) error {
	if !s.get() {
		return syscall.EBADF
	}
	defer s.put()
	if req != SIOCSHWTSTAMP && req != SIOCGHWTSTAMP {
		return syscall.ENOTTY
	}
	if s.u.IP().DevGetByName(ifname) == nil {
		return syscall.ENODEV
	}
	if req == SIOCSHWTSTAMP {
		if cfg == nil {
			return syscall.EFAULT
		}
		if cfg.Flags&^hwtstampFlagMask != 0 {
			return syscall.EINVAL
		}
		if uint32(cfg.TxType) >= hwtstampTxCnt || uint32(cfg.RxFilter) >= hwtstampFilterCnt {
			return syscall.ERANGE
		}
	}
	return syscall.EOPNOTSUPP
}

// The last datagram's timestamp ioctls (asm-generic/sockios.h); the
// _NEW numbers give the same 64-bit layouts on x86_64.
const (
	SIOCGSTAMP      = 0x8906
	SIOCGSTAMPNS    = 0x8907
	SIOCGSTAMPNew   = 0x80108906
	SIOCGSTAMPNSNew = 0x80108907
)

// IoctlGetStamp is ioctl(SIOCGSTAMP) or ioctl(SIOCGSTAMPNS)
// (sock_gettstamp): the receive time of the last datagram read, as
// seconds and µs (SIOCGSTAMP) or ns (SIOCGSTAMPNS). Before any datagram
// was read it fails with ENOENT. As in Linux, the first call enables
// stamping until the socket is closed; a datagram read before that, or
// read with SO_RXQ_OVFL on and no stamp, reads as the time of the call;
// and a datagram read with SO_TIMESTAMP(NS) or SO_TIMESTAMPING
// reporting on does not update what it returns.
func (s *Socket) IoctlGetStamp(req int) (sec, frac int64, err error) {
	if !s.get() {
		return 0, 0, syscall.EBADF
	}
	defer s.put()
	if req != SIOCGSTAMP && req != SIOCGSTAMPNS && req != SIOCGSTAMPNew && req != SIOCGSTAMPNSNew {
		return 0, 0, syscall.ENOTTY
	}
	ns, rc := s.sk.Gettstamp()
	if rc < 0 {
		return 0, 0, syscall.Errno(-rc)
	}
	sec, frac = splitNs(ns)
	if req == SIOCGSTAMP || req == SIOCGSTAMPNew {
		frac /= 1000
	}
	return sec, frac, nil
}
