package testbench

import (
	"fmt"
	"net/netip"
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

// ReaderOptions sets the pace of an agent socket's background reader.
type ReaderOptions struct {
	// Rate is datagrams per second, Paused or FullSpeed.
	Rate int
	// ResumeAfter, if positive, has the image itself switch the reader
	// to full speed after that long.
	ResumeAfter time.Duration
	// Window is the sequence bitmap size in bits (0: the agent's
	// default), used on the first call.
	Window int
}

// Reader starts fd's background reader or sets its pace as o says.
func (a *Agent) Reader(fd int, o ReaderOptions) (ReaderCounters, error) {
	return a.counterCall(agent.Request{Op: agent.OpReader, FD: fd, Value: o.Rate,
		TimeoutMs: int(o.ResumeAfter / time.Millisecond), Len: o.Window})
}

// ReaderStats returns fd's reader and sender counters.
func (a *Agent) ReaderStats(fd int) (ReaderCounters, error) {
	return a.counterCall(agent.Request{Op: agent.OpReaderStats, FD: fd})
}

// ReaderStop stops fd's reader and returns its final counters.
func (a *Agent) ReaderStop(fd int) (ReaderCounters, error) {
	return a.counterCall(agent.Request{Op: agent.OpReaderStop, FD: fd})
}

// BurstOptions describes a burst an agent socket sends in the background.
type BurstOptions struct {
	// To is the destination.
	To netip.AddrPort
	// Count datagrams of Size bytes (sequence numbers 1…Count), Gap
	// apart (whole milliseconds).
	Count, Size int
	Gap         time.Duration
}

// SendBurst makes the image send a burst from fd as o says, in the
// background.
func (a *Agent) SendBurst(fd int, o BurstOptions) error {
	_, err := a.counterCall(agent.Request{Op: agent.OpSendBurst, FD: fd, Addr: o.To.String(), Value: o.Count,
		Len: o.Size, TimeoutMs: int(o.Gap / time.Millisecond)})
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
	return parseSockstat(r.Text)
}

// parseSockstat reads /proc/net/sockstat's UDP and FRAG lines.
func parseSockstat(text string) (Sockstat, error) {
	s := Sockstat{Text: text}
	// Each line is a label and "key value" pairs (sockstat_seq_show); a
	// key that is missing is an error, never a 0.
	want := map[string][]*int64{"UDP:": {&s.UDPInUse, &s.UDPMemPages}, "FRAG:": {&s.FragQueues, &s.FragMemory}}
	keys := map[string][]string{"UDP:": {"inuse", "mem"}, "FRAG:": {"inuse", "memory"}}
	for _, line := range strings.Split(text, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || want[f[0]] == nil {
			continue
		}
		if len(f)%2 != 1 {
			return Sockstat{}, fmt.Errorf("agent sockstat: malformed line %q", line)
		}
		for i, k := range keys[f[0]] {
			found := false
			for j := 1; j+1 < len(f); j += 2 {
				if f[j] == k {
					n, err := strconv.ParseInt(f[j+1], 10, 64)
					if err != nil {
						return Sockstat{}, fmt.Errorf("agent sockstat: %s %s %q: %w", f[0], k, f[j+1], err)
					}
					*want[f[0]][i], found = n, true
				}
			}
			if !found {
				return Sockstat{}, fmt.Errorf("agent sockstat: no %s %s in %q", f[0], k, line)
			}
		}
		delete(want, f[0])
	}
	for label := range want {
		return Sockstat{}, fmt.Errorf("agent sockstat: no %s line in %q", label, text)
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
