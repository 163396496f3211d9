package stats

import (
	"bytes"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"testing"

	"github.com/kaidoku-net/kaidoku/netstack"
	"github.com/kaidoku-net/kaidoku/netstack/netstacktest"
	"github.com/kaidoku-net/kaidoku/netstack/skb"
	"github.com/kaidoku-net/kaidoku/netstack/socket"
)

// env is a stack with the service's socket bound to Port.
type env struct {
	st   *netstack.Stack
	pool *skb.Pool
	so   *socket.Socket
	svc  *Service
}

func newEnv(t testing.TB, allow string) *env {
	t.Helper()
	st, pool := netstacktest.New(t, 64)
	return newEnvOn(t, st, pool, allow)
}

// newEnvOn is newEnv on a stack the test made.
func newEnvOn(t testing.TB, st *netstack.Stack, pool *skb.Pool, allow string) *env {
	t.Helper()
	so, err := st.Socket(2, 2, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := so.Bind(&socket.Sockaddr{Family: 2, Port: Port}); err != nil {
		t.Fatal(err)
	}
	var p netip.Prefix
	if allow != "" {
		p = netip.MustParsePrefix(allow)
	}
	sections := append(StackSections(st), Section{Name: "pools", Write: func(w io.Writer) {
		ps := pool.Stats()
		fmt.Fprintf(w, "pool frames in_use %d\n", ps.InUse)
	}})
	return &env{st: st, pool: pool, so: so, svc: New(p, sections)}
}

// inject hands the stack a UDP datagram from src:4000 to Port.
func (e *env) inject(t testing.TB, src netip.Addr, payload []byte) {
	t.Helper()
	netstacktest.InjectUDP(t, e.st, e.pool, src, Port, payload)
}

// serveOne reads one request as Serve does and answers it.
func (e *env) serveOne(t testing.TB) (reply string, answered bool) {
	t.Helper()
	req := make([]byte, MaxRequest)
	var from socket.Sockaddr
	n, err := e.so.RecvFrom(req, socket.MsgDontwait, &from)
	if err != nil {
		t.Fatalf("the request was not queued: %v", err)
	}
	var out bytes.Buffer
	if !e.svc.Answer(&out, req[:n], &from) {
		return "", false
	}
	if out.Len() == 0 || out.Len() > MaxReply {
		t.Fatalf("reply of %d bytes", out.Len())
	}
	if _, err := e.so.SendTo(out.Bytes(), 0, &from); err != nil {
		t.Fatalf("reply of %d bytes: %v", out.Len(), err)
	}
	return out.String(), true
}

func TestAnswer(t *testing.T) {
	for _, tc := range []struct {
		name, allow, from, req string
		answered               bool
		want                   []string // substrings of the reply
		not                    []string
	}{
		{"all", "", "10.0.2.9", "all", true, []string{"== snmp\nIp: Forwarding", "== udp\n", "== latency\n", "== pools\npool frames"}, []string{"== latency-reset"}},
		{"empty is all", "", "10.0.2.9", " \n", true, []string{"== netstat\n", "== sockstat\n"}, nil},
		{"one section", "", "10.0.2.9", "snmp\n", true, []string{"Udp: InDatagrams"}, []string{"== "}},
		{"action", "", "10.0.2.9", "latency-reset", true, []string{"ok\n"}, nil},
		{"unknown", "", "10.0.2.9", "frob", true, []string{`unknown section "frob"`, "latency-reset"}, nil},
		{"allowed host", "10.0.2.9/32", "10.0.2.9", "udp", true, []string{"sl  local_address"}, nil},
		{"refused host", "10.0.2.9/32", "10.0.2.8", "udp", false, nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, tc.allow)
			e.inject(t, netip.MustParseAddr(tc.from), []byte(tc.req))
			reply, ok := e.serveOne(t)
			if ok != tc.answered {
				t.Fatalf("answered %v, want %v", ok, tc.answered)
			}
			if !ok && e.svc.Refused() != 1 {
				t.Fatalf("refused %d, want 1", e.svc.Refused())
			}
			for _, w := range tc.want {
				if !strings.Contains(reply, w) {
					t.Errorf("reply lacks %q:\n%s", w, reply)
				}
			}
			for _, w := range tc.not {
				if strings.Contains(reply, w) {
					t.Errorf("reply has %q:\n%s", w, reply)
				}
			}
		})
	}
}

// With the latency trace off (Stack.Latency nil) the latency section
// says so, latency-reset does nothing, and the machine form has no
// latency counters.
func TestAnswerTraceOff(t *testing.T) {
	pool, err := skb.NewPool("frames", 2048, 64, skb.HeapMemory)
	if err != nil {
		t.Fatal(err)
	}
	st, err := netstack.New(netstack.Config{Link: netstacktest.NullLink{}, FramePool: pool,
		Addr: [4]byte{10, 0, 2, 15}, PrefixLen: 24, ManualTimers: true, NoLatencyTrace: true})
	if err != nil {
		t.Fatal(err)
	}
	if st.Latency() != nil {
		t.Fatal("Latency() is not nil with the trace off")
	}
	e := newEnvOn(t, st, pool, "")
	for _, tc := range []struct{ req, want string }{
		{"latency", TraceOff},
		{"latency-reset", "ok\n"},
		{"all", "== latency\n" + TraceOff},
	} {
		e.inject(t, netip.MustParseAddr("10.0.2.9"), []byte(tc.req))
		if reply, ok := e.serveOne(t); !ok || !strings.Contains(reply, tc.want) {
			t.Errorf("%s: answered %v:\n%s", tc.req, ok, reply)
		}
	}
	e.inject(t, netip.MustParseAddr("10.0.2.9"), []byte("counters"))
	reply, _ := e.serveOne(t)
	s, err := ParseCounters(reply)
	if err != nil || s.Latency != nil || s.Stack == nil {
		t.Fatalf("%v: latency %+v\n%s", err, s.Latency, reply)
	}
}

// A reply longer than MaxReply is cut there.
func TestAnswerCapsReply(t *testing.T) {
	big := Section{Name: "big", Write: func(w io.Writer) { io.WriteString(w, strings.Repeat("x", 2*MaxReply)) }}
	svc := New(netip.Prefix{}, []Section{big})
	var out bytes.Buffer
	if !svc.Answer(&out, []byte("big"), &socket.Sockaddr{}) || out.Len() != MaxReply {
		t.Fatalf("reply of %d bytes, want %d", out.Len(), MaxReply)
	}
}

// FuzzStatsRequest drives the service's request path with arbitrary
// datagrams: a datagram arrives through the stack's receive path, RecvFrom
// reads at most MaxRequest bytes of it, Answer renders the section it
// names, and the reply is sent back. Nothing may panic, read or write
// outside its buffers, or hold a buffer afterwards.
func FuzzStatsRequest(f *testing.F) {
	for _, s := range []string{"all", "snmp", "netstat", "udp", "softnet", "dev", "drops", "latency", "latency-reset",
		"sockstat", "counters", "  all\n", "", "\x00\xff", strings.Repeat("A", 600), "all\x00junk"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 1900 { // one frame buffer
			data = data[:1900]
		}
		e := newEnv(t, "10.0.2.0/24")
		defer e.so.Close()
		base := e.pool.InUse()
		e.inject(t, netip.MustParseAddr("10.0.2.9"), data)
		if _, ok := e.serveOne(t); !ok {
			t.Fatal("an allowed host was refused")
		}
		if in := e.pool.InUse(); in > base {
			// The reply waits behind ARP for 10.0.2.9 (nullLink never
			// answers); the request's buffer must be gone.
			if q := e.st.Counters().Sockstat.FragInUse; q != 0 {
				t.Fatalf("%d reassembly queues", q)
			}
		}
	})
}
