package testbench

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/kaidoku-net/kaidoku/image/agent"
)

// ReaderCounters are the counters of an agent socket's background reader
// and sender (agent.OpReader, agent.OpSendBurst).
type ReaderCounters struct {
	Delivered, Bytes, Duplicates, Reordered, Unchecked, MaxSeq, Errors uint64
	Rate                                                               int64 // -1 full speed, 0 paused
	Running                                                            bool
	Sent, SendErrors                                                   uint64
	SendDone                                                           bool
}

func readerCounters(m map[string]uint64) ReaderCounters {
	return ReaderCounters{
		Delivered: m[agent.CtrDelivered], Bytes: m[agent.CtrBytes], Duplicates: m[agent.CtrDuplicates],
		Reordered: m[agent.CtrReordered], Unchecked: m[agent.CtrUnchecked], MaxSeq: m[agent.CtrMaxSeq],
		Errors: m[agent.CtrErrors], Rate: int64(m[agent.CtrRate]), Running: m[agent.CtrRunning] != 0,
		Sent: m[agent.CtrSent], SendErrors: m[agent.CtrSendErrors], SendDone: m[agent.CtrSendDone] != 0,
	}
}

// Reader pace values.
const (
	Paused    = 0
	FullSpeed = -1
)

func (a *Agent) counterCall(req agent.Request) (ReaderCounters, error) {
	r, err := a.Call(req)
	if err != nil {
		return ReaderCounters{}, err
	}
	if r.Errno != 0 {
		return ReaderCounters{}, fmt.Errorf("agent %s: %s", req.Op, r.Err)
	}
	return readerCounters(r.Counters), nil
}

// Reader starts fd's background reader or sets its pace: rate datagrams
// per second, Paused or FullSpeed. With resumeAfter > 0 the image itself
// switches it to full speed after that long. window is the sequence
// bitmap size in bits (0: the agent's default), used on the first call.
func (a *Agent) Reader(fd int, rate int, resumeAfter time.Duration, window int) (ReaderCounters, error) {
	return a.counterCall(agent.Request{Op: agent.OpReader, FD: fd, Value: rate,
		TimeoutMs: int(resumeAfter / time.Millisecond), Len: window})
}

// ReaderStats returns fd's reader and sender counters.
func (a *Agent) ReaderStats(fd int) (ReaderCounters, error) {
	return a.counterCall(agent.Request{Op: agent.OpReaderStats, FD: fd})
}

// ReaderStop stops fd's reader and returns its final counters.
func (a *Agent) ReaderStop(fd int) (ReaderCounters, error) {
	return a.counterCall(agent.Request{Op: agent.OpReaderStop, FD: fd})
}

// SendBurst makes the image send count datagrams of size bytes (sequence
// numbers 1…count) from fd to addr ("a.b.c.d:port"), gap apart, in the
// background.
func (a *Agent) SendBurst(fd int, addr string, count, size int, gap time.Duration) error {
	_, err := a.counterCall(agent.Request{Op: agent.OpSendBurst, FD: fd, Addr: addr, Value: count,
		Len: size, TimeoutMs: int(gap / time.Millisecond)})
	return err
}

// Sockstat is /proc/net/sockstat, parsed.
type Sockstat struct {
	Text                   string
	UDPInUse, UDPMemPages  int64
	FragQueues, FragMemory int64
}

// Sockstat reads the image's /proc/net/sockstat.
func (a *Agent) Sockstat() (Sockstat, error) {
	r, err := a.Call(agent.Request{Op: agent.OpSockstat})
	if err != nil {
		return Sockstat{}, err
	}
	if r.Errno != 0 {
		return Sockstat{}, fmt.Errorf("agent sockstat: %s", r.Err)
	}
	s := Sockstat{Text: r.Text}
	for _, line := range strings.Split(r.Text, "\n") {
		f := strings.Fields(line)
		get := func(key string) int64 {
			for i := 1; i+1 < len(f); i++ {
				if f[i] == key {
					n, _ := strconv.ParseInt(f[i+1], 10, 64)
					return n
				}
			}
			return 0
		}
		switch {
		case len(f) > 0 && f[0] == "UDP:":
			s.UDPInUse, s.UDPMemPages = get("inuse"), get("mem")
		case len(f) > 0 && f[0] == "FRAG:":
			s.FragQueues, s.FragMemory = get("inuse"), get("memory")
		}
	}
	return s, nil
}

// GCStats are the image's memory statistics after a garbage collection.
type GCStats struct {
	HeapAlloc, HeapInuse, HeapObjects, StackInuse, Sys, Goroutines, NumGC uint64
}

// GC runs a garbage collection in the image and returns its memory
// statistics after it.
func (a *Agent) GC() (GCStats, error) {
	r, err := a.Call(agent.Request{Op: agent.OpGC})
	if err != nil {
		return GCStats{}, err
	}
	if r.Errno != 0 {
		return GCStats{}, fmt.Errorf("agent gc: %s", r.Err)
	}
	c := r.Counters
	return GCStats{HeapAlloc: c["heap_alloc"], HeapInuse: c["heap_inuse"], HeapObjects: c["heap_objects"],
		StackInuse: c["stack_inuse"], Sys: c["sys"], Goroutines: c["goroutines"], NumGC: c["num_gc"]}, nil
}
