package socket

import (
	"sync"
	"sync/atomic"
	"syscall"
)

// file is the descriptor half of a socket, shared by Socket and
// PacketSocket. close(2) takes the descriptor away at once (later calls
// get EBADF), but the socket is released (sock_close) only when the last
// call that took it with fdget has given it back with fdput, as the file
// reference a blocked system call holds keeps the socket alive in Linux.
type file struct {
	mu     sync.Mutex
	closed atomic.Bool // the descriptor is gone (written under mu)
	// +checklocks:mu
	users int // calls in progress (fdget)
}

// get is fdget: it fails once the descriptor is closed; otherwise the
// caller holds a reference until put.
func (f *file) get() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed.Load() {
		return false
	}
	f.users++
	return true
}

// put is fdput. It reports whether this was the last reference of a
// closed descriptor, when the caller releases the socket.
func (f *file) put() (release bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.users--
	return f.users == 0 && f.closed.Load()
}

// close is close(2) on the descriptor: EBADF if it is closed already.
// release reports whether no call holds the socket, so the caller
// releases it now; otherwise the caller wakes the calls still blocked in
// it, and the last put releases it.
func (f *file) close() (release bool, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed.Load() {
		return false, syscall.EBADF
	}
	f.closed.Store(true)
	return f.users == 0, nil
}
