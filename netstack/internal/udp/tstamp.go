package udp

import (
	"sync/atomic"
)

// SOL_SOCKET timestamp options (asm-generic/socket.h). On a 64-bit ABI
// SO_TIMESTAMP, SO_TIMESTAMPNS and SO_TIMESTAMPING are the _OLD numbers;
// the _NEW ones give the same layouts (64-bit seconds either way) under
// a different cmsg_type.
const (
	SoTimestampOld    = 29
	SoTimestampnsOld  = 35
	SoTimestampingOld = 37
	SoTimestampNew    = 63
	SoTimestampnsNew  = 64
	SoTimestampingNew = 65
)

// SOF_TIMESTAMPING_* (include/uapi/linux/net_tstamp.h, v6.8).
const (
	SofTimestampingTxHardware  = 1 << 0
	SofTimestampingTxSoftware  = 1 << 1
	SofTimestampingRxHardware  = 1 << 2
	SofTimestampingRxSoftware  = 1 << 3
	SofTimestampingSoftware    = 1 << 4
	SofTimestampingSysHardware = 1 << 5
	SofTimestampingRawHardware = 1 << 6
	SofTimestampingOptID       = 1 << 7
	SofTimestampingTxSched     = 1 << 8
	SofTimestampingTxAck       = 1 << 9
	SofTimestampingOptCmsg     = 1 << 10
	SofTimestampingOptTsonly   = 1 << 11
	SofTimestampingOptStats    = 1 << 12
	SofTimestampingOptPktinfo  = 1 << 13
	SofTimestampingOptTxSwhw   = 1 << 14
	SofTimestampingBindPHC     = 1 << 15
	SofTimestampingOptIDTCP    = 1 << 16
	SofTimestampingMask        = SofTimestampingOptIDTCP<<1 - 1
)

// The sk_flags bits of receive timestamping (enum sock_flags).
const (
	sockRcvtstamp              = 1 << iota // SOCK_RCVTSTAMP: SO_TIMESTAMP(NS) on
	sockRcvtstampns                        // SOCK_RCVTSTAMPNS: … in ns
	sockTstampNew                          // SOCK_TSTAMP_NEW: the _NEW cmsg types
	sockTimestamp                          // SOCK_TIMESTAMP: holds a net_enable_timestamp
	sockTimestampingRxSoftware             // SOCK_TIMESTAMPING_RX_SOFTWARE: likewise

	// skFlagsTimestamp is SK_FLAGS_TIMESTAMP: the flags that hold
	// netstamp_needed_key.
	skFlagsTimestamp = sockTimestamp | sockTimestampingRxSoftware
)

// sockTstamp is the timestamping state of struct sock: its sk_flags
// bits, sk_tsflags and sk_bind_phc. Changes are made under Sock.Lock
// (lock_sock); the receive path reads the atomics.
type sockTstamp struct {
	flags   atomic.Uint32
	tsflags atomic.Uint32
	bindPHC atomic.Int32
	// stamp is sk_stamp, what SIOCGSTAMP reads: skDefaultStamp until
	// the first read, then the stamp of the last datagram read without
	// a timestamp message (0 when it had none).
	stamp atomic.Int64
}

// skDefaultStamp is SK_DEFAULT_STAMP, sk_stamp's initial value
// (sock_init_data): −1 s, which SIOCGSTAMP answers with ENOENT.
const skDefaultStamp = -1e9

func (sk *Sock) tsFlag(f uint32) bool { return sk.ts.flags.Load()&f != 0 }

func (sk *Sock) tsValboolFlag(f uint32, on bool) {
	if on {
		sk.ts.flags.Or(f)
	} else {
		sk.ts.flags.And(^f)
	}
}

// sockEnableTimestamp is sock.c: sock_enable_timestamp: setting the
// first of SK_FLAGS_TIMESTAMP takes a net_enable_timestamp.
func (sk *Sock) sockEnableTimestamp(f uint32) {
	prev := sk.ts.flags.Load()
	if prev&f != 0 {
		return
	}
	sk.ts.flags.Or(f)
	if prev&skFlagsTimestamp == 0 {
		sk.u.ip.Net().NetEnableTimestamp()
	}
}

// sockDisableTimestamp is sock.c: sock_disable_timestamp: clearing the
// last of SK_FLAGS_TIMESTAMP gives its net_enable_timestamp back.
func (sk *Sock) sockDisableTimestamp(mask uint32) {
	prev := sk.ts.flags.Load()
	if prev&mask == 0 {
		return
	}
	sk.ts.flags.And(^mask)
	if prev&skFlagsTimestamp != 0 && prev&^mask&skFlagsTimestamp == 0 {
		sk.u.ip.Net().NetDisableTimestamp()
	}
}

// SetTimestamp implements SO_TIMESTAMP and SO_TIMESTAMPNS, _OLD and
// _NEW (sock.c: sock_set_timestamp → __sock_set_timestamps). On, it
// picks the unit and the cmsg type (the last option set wins) and takes
// a net_enable_timestamp that the socket keeps until it is closed; off,
// it stops the messages of both options (SO_TIMESTAMP off also ends
// SO_TIMESTAMPNS) but keeps SOCK_TSTAMP_NEW and the enable, as Linux
// does. optname must be one of the four.
func (sk *Sock) SetTimestamp(optname int, on bool) {
	sk.Lock.Lock()
	defer sk.Lock.Unlock()
	if !on {
		sk.tsValboolFlag(sockRcvtstamp|sockRcvtstampns, false)
		return
	}
	sk.tsValboolFlag(sockTstampNew, optname == SoTimestampNew || optname == SoTimestampnsNew)
	sk.tsValboolFlag(sockRcvtstampns, optname == SoTimestampnsOld || optname == SoTimestampnsNew)
	sk.tsValboolFlag(sockRcvtstamp, true)
	sk.sockEnableTimestamp(sockTimestamp)
}

// Timestamp is getsockopt of SO_TIMESTAMP/SO_TIMESTAMPNS _OLD/_NEW
// (sk_getsockopt): whether that option, in its own unit and cmsg type,
// is what the socket delivers. SO_TIMESTAMP_NEW reads SOCK_RCVTSTAMP
// and SOCK_TSTAMP_NEW alone, so it is also 1 under SO_TIMESTAMPNS_NEW.
func (sk *Sock) Timestamp(optname int) bool {
	f := sk.ts.flags.Load()
	on, ns, nw := f&sockRcvtstamp != 0, f&sockRcvtstampns != 0, f&sockTstampNew != 0
	switch optname {
	case SoTimestampOld:
		return on && !nw && !ns
	case SoTimestampnsOld:
		return ns && !nw
	case SoTimestampNew:
		return on && nw
	case SoTimestampnsNew:
		return ns && nw
	}
	return false
}

// SetTimestamping implements SO_TIMESTAMPING_OLD/_NEW (sock.c:
// sock_set_timestamping): flags outside SOF_TIMESTAMPING_MASK, OPT_ID_TCP
// without OPT_ID and OPT_STATS without OPT_TSONLY are EINVAL;
// SOF_TIMESTAMPING_BIND_PHC needs a device bound (EOPNOTSUPP) that has
// a PTP virtual clock of index bindPHC (EINVAL: kaidoku's devices have
// none, as virtio-net has none). The flags are stored as given —
// hardware and transmit ones included, as Linux accepts them whatever
// the device — and SOF_TIMESTAMPING_RX_SOFTWARE takes or gives back a
// net_enable_timestamp. Only software receive stamps are ever
// generated. It returns 0 or a negative errno.
func (sk *Sock) SetTimestamping(optname int, flags uint32, bindPHC int32) int {
	sk.Lock.Lock()
	defer sk.Lock.Unlock()
	if flags&^SofTimestampingMask != 0 {
		return -EINVAL
	}
	if flags&SofTimestampingOptIDTCP != 0 && flags&SofTimestampingOptID == 0 {
		return -EINVAL
	}
	if flags&SofTimestampingOptStats != 0 && flags&SofTimestampingOptTsonly == 0 {
		return -EINVAL
	}
	if flags&SofTimestampingBindPHC != 0 {
		// sock_timestamping_bind_phc: ethtool_get_phc_vclocks finds
		// no virtual clock on the bound device.
		if sk.boundDevIf == 0 || sk.u.ip.DevGetByIndex(sk.boundDevIf) == nil {
			return -EOPNOTSUPP
		}
		return -EINVAL
	}
	sk.ts.tsflags.Store(flags)
	sk.tsValboolFlag(sockTstampNew, optname == SoTimestampingNew)
	if flags&SofTimestampingRxSoftware != 0 {
		sk.sockEnableTimestamp(sockTimestampingRxSoftware)
	} else {
		sk.sockDisableTimestamp(sockTimestampingRxSoftware)
	}
	return 0
}

// Timestamping is getsockopt of SO_TIMESTAMPING_OLD/_NEW: struct
// so_timestamping. SO_TIMESTAMPING_NEW reports the flags only when they
// were set through it (SOCK_TSTAMP_NEW), zero otherwise.
func (sk *Sock) Timestamping(optname int) (flags uint32, bindPHC int32) {
	if optname == SoTimestampingOld || sk.tsFlag(sockTstampNew) {
		return sk.ts.tsflags.Load(), sk.ts.bindPHC.Load()
	}
	return 0, 0
}

// sockRecvTimestamp mirrors sock_recv_timestamp and
// __sock_recv_timestamp for a received (or error-queue) packet whose
// skb->tstamp is *tstamp: SO_TIMESTAMP(NS) gives the stamp, or, when the
// packet came before any socket asked for stamps, the time now, which
// is stored in the packet (__net_timestamp) so that a later read of a
// peeked datagram sees the same; SO_TIMESTAMPING with
// SOF_TIMESTAMPING_SOFTWARE gives SCM_TIMESTAMPING with the stamp in
// [0] when the packet has one. No hardware stamp exists ([2] stays 0,
// and an all-zero SCM_TIMESTAMPING is never sent).
func (sk *Sock) sockRecvTimestamp(msg *Msg, tstamp *int64) {
	f := sk.ts.flags.Load()
	tsflags := sk.ts.tsflags.Load()
	msg.TstampType, msg.TimestampingType = 0, 0
	if f&sockRcvtstamp == 0 && tsflags&SofTimestampingRxSoftware == 0 &&
		(*tstamp == 0 || tsflags&SofTimestampingSoftware == 0) {
		sk.ts.stamp.Store(*tstamp) // sock_write_timestamp
		return
	}
	nw := f&sockTstampNew != 0
	if f&sockRcvtstamp != 0 {
		if *tstamp == 0 {
			*tstamp = sk.u.ip.Net().Realtime()
		}
		switch {
		case f&sockRcvtstampns == 0 && !nw:
			msg.TstampType = SoTimestampOld
		case f&sockRcvtstampns == 0:
			msg.TstampType = SoTimestampNew
		case !nw:
			msg.TstampType = SoTimestampnsOld
		default:
			msg.TstampType = SoTimestampnsNew
		}
		msg.Tstamp = *tstamp
	}
	if tsflags&SofTimestampingSoftware != 0 && *tstamp != 0 {
		msg.Timestamping = [3]int64{*tstamp, 0, 0}
		msg.TimestampingType = SoTimestampingOld
		if nw {
			msg.TimestampingType = SoTimestampingNew
		}
	}
}

// sockRecvCmsgs mirrors sock.h: sock_recv_cmsgs for the timestamps
// (the SO_RXQ_OVFL message, sock_recv_drops, is the caller's): with
// SO_RXQ_OVFL, SO_TIMESTAMP(NS) or a SO_TIMESTAMPING reporting flag set,
// sock_recv_timestamp; otherwise only sk_stamp is kept for SIOCGSTAMP —
// the datagram's stamp once SIOCGSTAMP has enabled stamping
// (SOCK_TIMESTAMP), else 0 after the first read.
func (sk *Sock) sockRecvCmsgs(msg *Msg, tstamp *int64) {
	msg.TstampType, msg.TimestampingType = 0, 0
	f := sk.ts.flags.Load()
	switch {
	case sk.rxqOvfl.Load() || f&sockRcvtstamp != 0 ||
		sk.ts.tsflags.Load()&(SofTimestampingSoftware|SofTimestampingRawHardware) != 0:
		sk.sockRecvTimestamp(msg, tstamp)
	case f&sockTimestamp != 0:
		sk.ts.stamp.Store(*tstamp)
	case sk.ts.stamp.Load() == skDefaultStamp:
		sk.ts.stamp.Store(0)
	}
}

// Gettstamp mirrors sock.c: sock_gettstamp (SIOCGSTAMP,
// SIOCGSTAMPNS): it enables stamping for good (SOCK_TIMESTAMP, as
// SO_TIMESTAMP does) and returns sk_stamp in ns, or -ENOENT before the
// first datagram was read. A read that left no stamp (sk_stamp's second
// 0) is answered with the time now, which is kept.
func (sk *Sock) Gettstamp() (int64, int) {
	sk.Lock.Lock()
	sk.sockEnableTimestamp(sockTimestamp)
	sk.Lock.Unlock()
	ns := sk.ts.stamp.Load()
	sec := ns / 1e9
	if ns%1e9 < 0 {
		sec--
	}
	switch sec {
	case -1:
		return 0, -ENOENT
	case 0:
		ns = sk.u.ip.Net().Realtime()
		sk.ts.stamp.Store(ns)
	}
	return ns, 0
}

// skDestructTimestamp is __sk_destruct's sock_disable_timestamp: a
// released socket gives its net_enable_timestamp back.
func (sk *Sock) skDestructTimestamp() {
	sk.Lock.Lock()
	sk.sockDisableTimestamp(skFlagsTimestamp)
	sk.Lock.Unlock()
}
