package udp

import "testing"

// TestReuseportIncomingCPUCount: the group counts members with
// sk_incoming_cpu >= 0 as they join (reuseport_alloc,
// __reuseport_add_sock), leave (__reuseport_detach_sock) and change it
// (reuseport_update_incoming_cpu); sk_incoming_cpu_update on receive
// leaves the count alone.
func TestReuseportIncomingCPUCount(t *testing.T) {
	mk := func(cpu int32) *Sock { return &Sock{state: StateClose, incomingCPU: cpu} }
	for _, c := range []struct {
		name string
		run  func() *reuseportGroup
		want int
	}{
		{"founder with a CPU", func() *reuseportGroup {
			a := mk(0)
			reuseportAlloc(a)
			return a.reuseportCb
		}, 1},
		{"joiners", func() *reuseportGroup {
			a, b, c := mk(-1), mk(3), mk(0)
			reuseportAlloc(a)
			reuseportAddSock(b, a)
			reuseportAddSock(c, a)
			return a.reuseportCb
		}, 2},
		{"detach", func() *reuseportGroup {
			a, b := mk(-1), mk(0)
			reuseportAlloc(a)
			reuseportAddSock(b, a)
			reuseportDetachSock(b)
			return a.reuseportCb
		}, 0},
		{"update both ways", func() *reuseportGroup {
			a, b := mk(-1), mk(-1)
			reuseportAlloc(a)
			reuseportAddSock(b, a)
			reuseportUpdateIncomingCPU(a, 0)
			reuseportUpdateIncomingCPU(b, 2)
			reuseportUpdateIncomingCPU(b, 1) // already counted
			reuseportUpdateIncomingCPU(a, -1)
			return a.reuseportCb
		}, 1},
		{"update outside a group", func() *reuseportGroup {
			a, b := mk(-1), mk(-1)
			reuseportAlloc(a)
			reuseportUpdateIncomingCPU(b, 0)
			reuseportAddSock(b, a)
			return a.reuseportCb
		}, 1},
		{"receive path does not count", func() *reuseportGroup {
			a := mk(-1)
			reuseportAlloc(a)
			a.incomingCPU = thisCPU // sk_incoming_cpu_update
			return a.reuseportCb
		}, 0},
	} {
		if got := c.run().incomingCPU; got != c.want {
			t.Errorf("%s: count %d, want %d", c.name, got, c.want)
		}
	}
}

// TestReuseportSelectPrefersIncomingCPU: with a non-zero count the walk
// from the hash's member returns the first member on this CPU, else the
// first unconnected member it met.
func TestReuseportSelectPrefersIncomingCPU(t *testing.T) {
	for _, c := range []struct {
		name  string
		cpus  []int32
		count int
		want  int
	}{
		{"count 0: the hash's member", []int32{-1, -1, 0, -1}, 0, 1},
		{"a member on CPU 0", []int32{-1, -1, 0, -1}, 1, 2},
		{"wraps to CPU 0", []int32{0, -1, -1, -1}, 1, 0},
		{"none on CPU 0: first valid", []int32{-1, -1, 5, -1}, 1, 1},
	} {
		g := &reuseportGroup{incomingCPU: c.count}
		for _, cpu := range c.cpus {
			g.socks = append(g.socks, &Sock{state: StateClose, incomingCPU: cpu})
		}
		if got := reuseportSelectSockByHash(g, 1<<30); got != g.socks[c.want] {
			t.Errorf("%s: picked another member than %d", c.name, c.want)
		}
	}
}
