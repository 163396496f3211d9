package agent

// Operations for reliability tests: a background reader on an agent
// socket whose pace the host controls (paused, slowed, full speed), a
// background sender, the reassembly memory and a garbage collection.
// They cost no JSON per datagram: the host sets a pace and reads
// counters.
//
// Datagrams the reader takes carry a sequence number in their first 8
// bytes (big endian); the reader counts each number it sees in a bitmap
// of Len bits (default 1<<21), so that the host can tell delivered from
// duplicated. A datagram shorter than 8 bytes, or whose number is beyond
// the bitmap, is counted but not checked.

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/kaidoku-net/kaidoku/netstack/socket"
)

// More operations, beside those in proto.go.
const (
	// OpReader starts the socket's background reader or changes its
	// pace: FD, Value (datagrams per second; 0 pauses, negative is
	// full speed), TimeoutMs (if > 0: switch to full speed after that
	// long, from inside the image, e.g. when the host cannot reach the
	// agent meanwhile), Len (sequence bitmap bits, first call only;
	// at most MaxSeqWindow) → Counters (see ReaderCounters).
	OpReader = "reader"
	// OpReaderStats returns the reader's and the sender's counters: FD
	// → Counters.
	OpReaderStats = "readerstats"
	// OpReaderStop stops the reader (and a sender) and returns the
	// final counters: FD → Counters.
	OpReaderStop = "readerstop"
	// OpSendBurst starts a background sender: FD, Addr (empty: the
	// connected peer), Value datagrams of Len bytes (at least 8: the
	// sequence number, from 1), TimeoutMs between two (0: back to
	// back). It returns at once; OpReaderStats reports progress.
	OpSendBurst = "sendburst"
	// OpSockstat returns /proc/net/sockstat as Text (UDP memory and the
	// reassembly queues: "FRAG: inuse N memory M").
	OpSockstat = "sockstat"
	// OpGC runs a garbage collection and returns the memory statistics
	// after it as Counters (heap_alloc, heap_inuse, heap_objects,
	// stack_inuse, sys, goroutines, num_gc).
	OpGC = "gc"
)

// MaxSeqWindow bounds the reader's sequence bitmap (bits).
const MaxSeqWindow = 1 << 24

// defaultSeqWindow is the bitmap size when the request gives none.
const defaultSeqWindow = 1 << 21

// Reader counter names, in Response.Counters.
const (
	CtrDelivered  = "delivered"   // datagrams read
	CtrBytes      = "bytes"       // their bytes
	CtrDuplicates = "duplicates"  // sequence numbers seen before
	CtrReordered  = "reordered"   // sequence numbers below the highest seen
	CtrUnchecked  = "unchecked"   // shorter than 8 bytes or beyond the bitmap
	CtrMaxSeq     = "max_seq"     // highest sequence number seen
	CtrErrors     = "errors"      // failed reads other than EINTR
	CtrRate       = "rate"        // the pace now (-1 full speed)
	CtrRunning    = "running"     // 1 while the reader goroutine runs
	CtrSent       = "sent"        // the sender's datagrams sent
	CtrSendErrors = "send_errors" // its failed sends
	CtrSendDone   = "send_done"   // 1 once it finished
)

// flow is the background reader and sender of one socket.
type flow struct {
	so *socket.Socket

	mu      sync.Mutex // control: resume, done, seen (before the reader starts)
	rate    atomic.Int64
	wake    chan struct{}
	stop    atomic.Bool
	running atomic.Bool
	// +checklocks:mu
	done chan struct{}
	// +checklocks:mu
	resume *time.Timer

	delivered, bytes, dups, reordered, unchecked, maxSeq, errs atomic.Uint64

	sending                    atomic.Bool
	sent, sendErrors, sendDone atomic.Uint64
}

// flows holds the flows by socket; a socket closed through OpClose ends
// its reader (the read fails with EBADF) and its entry is dropped on the
// next lookup.
var (
	flowsMu sync.Mutex
	// +checklocks:flowsMu
	flows = map[*socket.Socket]*flow{}
)

func getFlow(so *socket.Socket, create bool) *flow {
	flowsMu.Lock()
	defer flowsMu.Unlock()
	f := flows[so]
	if f == nil && create {
		f = &flow{so: so, wake: make(chan struct{}, 1), done: make(chan struct{})}
		close(f.done) // no reader yet
		flows[so] = f
	}
	return f
}

// doFlow performs the reliability tests' operations: background readers
// and senders (OpReader, OpReaderStats, OpReaderStop, OpSendBurst) and
// the memory and socket snapshots (OpGC, OpSockstat); handled is false
// for every other operation.
func (s *Server) doFlow(req *Request, r *Response) (handled bool, err error) {
	switch req.Op {
	case OpSockstat:
		var b bytes.Buffer
		s.stack.WriteSockstat(&b)
		r.Text = b.String()
		return true, nil
	case OpGC:
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		r.Counters = map[string]uint64{
			"heap_alloc": m.HeapAlloc, "heap_inuse": m.HeapInuse, "heap_objects": m.HeapObjects,
			"stack_inuse": m.StackInuse, "sys": m.Sys, "goroutines": uint64(runtime.NumGoroutine()),
			"num_gc": uint64(m.NumGC),
		}
		return true, nil
	case OpReader, OpReaderStats, OpReaderStop, OpSendBurst:
	default:
		return false, nil
	}
	so, err := s.socket(req.FD)
	if err != nil {
		return true, err
	}
	switch req.Op {
	case OpReader:
		f := getFlow(so, true)
		if err := f.setPace(req); err != nil {
			return true, err
		}
	case OpReaderStats:
		f := getFlow(so, false)
		if f == nil {
			return true, fmt.Errorf("%w: no reader or sender on fd %d", syscall.ENOENT, req.FD)
		}
	case OpReaderStop:
		f := getFlow(so, false)
		if f == nil {
			return true, fmt.Errorf("%w: no reader or sender on fd %d", syscall.ENOENT, req.FD)
		}
		f.halt()
	case OpSendBurst:
		if req.Len < 8 || req.Len > maxRecv || req.Value < 0 || req.TimeoutMs < 0 {
			return true, fmt.Errorf("%w: sendburst needs len 8..%d, count and interval ≥ 0", syscall.EINVAL, maxRecv)
		}
		var to *socket.Sockaddr
		if req.Addr != "" {
			if to, err = parseAddr(req.Addr); err != nil {
				return true, err
			}
		}
		f := getFlow(so, true)
		if !f.sending.CompareAndSwap(false, true) {
			return true, fmt.Errorf("%w: a sender already runs on fd %d", syscall.EBUSY, req.FD)
		}
		f.sent.Store(0)
		f.sendErrors.Store(0)
		f.sendDone.Store(0)
		go f.send(to, req.Value, req.Len, time.Duration(req.TimeoutMs)*time.Millisecond)
	}
	r.Counters = getFlow(so, true).counters()
	return true, nil
}

// setPace starts the reader or changes its pace.
func (f *flow) setPace(req *Request) error {
	window := req.Len
	if window <= 0 {
		window = defaultSeqWindow
	}
	if window > MaxSeqWindow {
		return fmt.Errorf("%w: sequence window %d beyond %d", syscall.EINVAL, window, MaxSeqWindow)
	}
	if req.TimeoutMs < 0 {
		return fmt.Errorf("%w: negative timeout", syscall.EINVAL)
	}
	rate := int64(req.Value)
	if rate < 0 {
		rate = -1
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rate.Store(rate)
	if f.resume != nil {
		f.resume.Stop()
		f.resume = nil
	}
	if req.TimeoutMs > 0 {
		f.resume = time.AfterFunc(time.Duration(req.TimeoutMs)*time.Millisecond, func() {
			f.rate.Store(-1)
			f.poke()
		})
	}
	if f.running.CompareAndSwap(false, true) {
		f.stop.Store(false)
		f.done = make(chan struct{})
		go f.read(make([]uint64, (window+63)/64), f.done)
	}
	f.poke()
	return nil
}

func (f *flow) poke() {
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

// halt stops the reader and waits for it (a blocked read is interrupted).
func (f *flow) halt() {
	f.mu.Lock()
	if f.resume != nil {
		f.resume.Stop()
		f.resume = nil
	}
	done := f.done
	f.mu.Unlock()
	f.stop.Store(true)
	f.poke()
	for i := 0; i < 200; i++ {
		select {
		case <-done:
			return
		default:
		}
		f.so.Interrupt()
		time.Sleep(5 * time.Millisecond)
	}
}

// read is the reader goroutine. It ends on halt, or when the socket is
// closed; then it forgets the flow unless a sender still runs.
func (f *flow) read(seen []uint64, done chan struct{}) {
	gone := false
	defer func() {
		f.running.Store(false)
		close(done)
		if gone && !f.sending.Load() {
			flowsMu.Lock()
			delete(flows, f.so)
			flowsMu.Unlock()
		}
	}()
	buf := make([]byte, maxRecv)
	var next time.Time
	for !f.stop.Load() {
		rate := f.rate.Load()
		if rate == 0 {
			// Paused; look now and then whether the socket is gone.
			select {
			case <-f.wake:
			case <-time.After(time.Second):
				if _, err := f.so.RecvFrom(nil, socket.MsgDontwait|socket.MsgPeek, nil); errors.Is(err, syscall.EBADF) {
					gone = true
					return
				}
			}
			next = time.Time{}
			continue
		}
		n, err := f.so.RecvFrom(buf, 0, nil)
		if err != nil {
			if errors.Is(err, syscall.EBADF) {
				gone = true
				return
			}
			if !errors.Is(err, syscall.EINTR) {
				f.errs.Add(1)
			}
			continue
		}
		f.account(seen, buf[:n])
		if rate > 0 {
			now := time.Now()
			if next.IsZero() || now.Sub(next) > time.Second {
				next = now
			}
			next = next.Add(time.Second / time.Duration(rate))
			if d := next.Sub(now); d > 0 {
				time.Sleep(d)
			}
		}
	}
}

func (f *flow) account(seen []uint64, p []byte) {
	f.delivered.Add(1)
	f.bytes.Add(uint64(len(p)))
	if len(p) < 8 {
		f.unchecked.Add(1)
		return
	}
	seq := binary.BigEndian.Uint64(p)
	if seq < f.maxSeq.Load() {
		f.reordered.Add(1)
	} else {
		f.maxSeq.Store(seq)
	}
	if seq/64 >= uint64(len(seen)) {
		f.unchecked.Add(1)
		return
	}
	w, bit := &seen[seq/64], uint64(1)<<(seq%64)
	if *w&bit != 0 {
		f.dups.Add(1)
	}
	*w |= bit
}

// send is the sender goroutine.
func (f *flow) send(to *socket.Sockaddr, count, size int, gap time.Duration) {
	defer func() {
		f.sendDone.Store(1)
		f.sending.Store(false)
	}()
	p := make([]byte, size)
	for i := 1; i <= count; i++ {
		binary.BigEndian.PutUint64(p, uint64(i))
		if _, err := f.so.SendTo(p, 0, to); err != nil {
			f.sendErrors.Add(1)
			if errors.Is(err, syscall.EBADF) {
				return
			}
		} else {
			f.sent.Add(1)
		}
		if gap > 0 {
			time.Sleep(gap)
		}
	}
}

func (f *flow) counters() map[string]uint64 {
	b2u := func(b bool) uint64 {
		if b {
			return 1
		}
		return 0
	}
	return map[string]uint64{
		CtrDelivered: f.delivered.Load(), CtrBytes: f.bytes.Load(), CtrDuplicates: f.dups.Load(),
		CtrReordered: f.reordered.Load(), CtrUnchecked: f.unchecked.Load(), CtrMaxSeq: f.maxSeq.Load(),
		CtrErrors: f.errs.Load(), CtrRate: uint64(f.rate.Load()), CtrRunning: b2u(f.running.Load()),
		CtrSent: f.sent.Load(), CtrSendErrors: f.sendErrors.Load(), CtrSendDone: f.sendDone.Load(),
	}
}
