package udp

// SetError records e, a positive errno, as the socket's pending error
// (sk_err) without waking anyone: do_recvmmsg keeps an error that ended
// a batch after some datagrams this way, for the next call or
// SO_ERROR to return.
func (sk *Sock) SetError(e int) { sk.err.Store(int32(e)) }

// XmitFlush ends a batch of datagrams sent with SendOpts.Batch that
// stopped at an error: the device is notified of the frames already
// posted, which the failed datagram would have announced.
func (sk *Sock) XmitFlush() { sk.u.ip.XmitFlush() }
