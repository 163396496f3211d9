package bench

import (
	"testing"

	pprof "github.com/google/pprof/profile"
)

// Each sample goes to the class of its innermost classified frame: the
// runtime's allocation for miekg/dns is the program's, the MMIO write
// under the stack's send the driver's, a GC worker the runtime's.
func TestProfileShares(t *testing.T) {
	fns := map[string]*pprof.Function{}
	loc := func(name string) *pprof.Location {
		if fns[name] == nil {
			fns[name] = &pprof.Function{Name: name}
		}
		return &pprof.Location{Line: []pprof.Line{{Function: fns[name]}}}
	}
	stack := func(n int64, names ...string) *pprof.Sample {
		s := &pprof.Sample{Value: []int64{n}}
		for _, name := range names {
			s.Location = append(s.Location, loc(name))
		}
		return s
	}
	p := &pprof.Profile{Sample: []*pprof.Sample{
		stack(3, "github.com/kaidoku-net/kaidoku/board.MMIO.Write32", "github.com/kaidoku-net/kaidoku/virtio.(*Net).Transmit", "github.com/kaidoku-net/kaidoku/netstack/internal/udp.(*Sock).sendmsg", "main.main"),
		stack(2, "github.com/kaidoku-net/kaidoku/netstack/internal/udp.(*Sock).sendmsg", "net.(*UDPConn).WriteToUDPAddrPort", "main.main"),
		stack(1, "runtime.mallocgc", "github.com/miekg/dns.(*Msg).Pack", "main.(*zone).answer", "main.main"),
		stack(1, "main.formErr", "main.main"),
		stack(2, "github.com/usbarmory/tamago/amd64.wfi", "github.com/kaidoku-net/kaidoku/board.idle", "runtime.findRunnable"),
		stack(1, "runtime.gcDrain", "runtime.gcBgMarkWorker"),
	}}
	want := map[string]int64{ShareDriver: 3, ShareStack: 2, ShareProgram: 2, ShareIdle: 2, ShareRuntime: 1}
	got := ProfileShares(p, "github.com/miekg/dns")
	if len(got) != len(want) {
		t.Fatalf("shares %+v", got)
	}
	for _, s := range got {
		if s.Samples != want[s.Class] || s.Pct != float64(want[s.Class])*10 {
			t.Errorf("%s: %d samples (%.1f %%), want %d", s.Class, s.Samples, s.Pct, want[s.Class])
		}
	}
	if got := ProfileShares(&pprof.Profile{}, ""); len(got) != 0 {
		t.Errorf("empty profile: %+v", got)
	}
}
