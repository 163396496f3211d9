package stats

import (
	"bytes"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/kaidoku-net/kaidoku/napi"
	"github.com/kaidoku-net/kaidoku/netstack"
	"github.com/kaidoku-net/kaidoku/netstack/skb"
	"github.com/kaidoku-net/kaidoku/virtio"
)

// fill gives every counter under v a distinct non-zero value (n counts
// them), so a counter that is dropped, renamed or swapped shows.
func fill(v reflect.Value, n *uint64) {
	*n++
	switch v.Kind() {
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(int64(*n % 100))
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(*n % 200)
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		fill(v.Elem(), n)
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			if v.Type().Field(i).IsExported() && v.Field(i).Kind() != reflect.String {
				fill(v.Field(i), n)
			}
		}
	case reflect.Array:
		for i := 0; i < v.Len(); i++ {
			fill(v.Index(i), n)
		}
	}
}

// full is a Snapshot with every part present and every counter set.
func full() *Snapshot {
	var n uint64
	s := &Snapshot{Pools: map[string]skb.PoolStats{}}
	fill(reflect.ValueOf(s).Elem(), &n)
	for _, name := range []string{"frames", "large"} {
		var p skb.PoolStats
		fill(reflect.ValueOf(&p).Elem(), &n)
		s.Pools[name] = p
	}
	for _, name := range []string{"eth0-rx", "eth0-tx"} {
		ns := napi.NAPIStats{Name: name}
		fill(reflect.ValueOf(&ns).Elem(), &n)
		s.NAPI.NAPIs = append(s.NAPI.NAPIs, ns)
	}
	s.Stack.Sockets = []netstack.UDPSocket{{Inode: 3, LocalPort: 7, RxQueue: 2624, Drops: 5}, {Inode: 9, LocalPort: 161, RemotePort: 4000}}
	s.Stack.IcmpMsg.In[8], s.Stack.IcmpMsg.Out[0], s.Stack.IcmpMsg.Out[3] = 4, 4, 1
	s.IRQ.Vectors = []IRQVector{{Vector: 33, Count: 1200}, {Vector: 34, Count: 0}}
	s.Latency.Total.Buckets = Buckets{{Upper: 1023, Count: 5}, {Upper: 40959, Count: 1}}
	s.Latency.Wakeup.Buckets = Buckets{{Upper: 7, Count: 1}}
	return s
}

func render(t testing.TB, s *Snapshot) string {
	t.Helper()
	var b bytes.Buffer
	if err := WriteCounters(&b, s); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// A snapshot survives the machine form unchanged, every part and every
// counter of it.
func TestCountersRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name string
		s    *Snapshot
	}{
		{"full", full()},
		{"empty", &Snapshot{}},
		{"stack only", &Snapshot{Stack: &netstack.Counters{}}},
		{"gvisor echo", &Snapshot{Dev: &virtio.Stats{LinkUp: true}, Services: &Services{Stats: StatsService{Refused: 2}},
			Latency: &Latency{Total: Histogram{Count: 1, P50: 900 * time.Nanosecond}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			text := render(t, tc.s)
			got, err := ParseCounters(text)
			if err != nil {
				t.Fatalf("%v\n%s", err, text)
			}
			if !reflect.DeepEqual(got, tc.s) {
				t.Fatalf("round trip differs:\n got %+v\nwant %+v\n%s", got, tc.s, text)
			}
			if again := render(t, got); again != text {
				t.Fatalf("re-rendered text differs:\n%s\n---\n%s", again, text)
			}
		})
	}
}

// The names are stable and say what they count.
func TestCountersNames(t *testing.T) {
	s := full()
	s.Stack.Udp.InDatagrams = 12
	s.Dev.RX.Packets = 5
	s.NAPI.NAPIs[0].Polls = 7
	s.Services.Agent.Malformed = 3
	s.Latency.Total.P50 = 41 * time.Microsecond
	s.Stack.Drop.NoSocket = 2
	s.Dev.Faults[virtio.FaultUsedLen] = 1
	text := render(t, s)
	for _, want := range []string{"\nUdp.InDatagrams 12\n", "\nDrop.NO_SOCKET 2\n", "\nTcpExt.IPReversePathFilter ",
		"\nIcmpMsg.InType8 4\n", "\nIcmpMsg.OutType3 1\n", "\nlink.rx_otherhost_dropped ", "\nSoftnet.TimeSqueeze ",
		"\nsockstat.frag_memory ", "\nudp.3.rx_queue 2624\n", "\nudp.9.remote_port 4000\n",
		"\ndev.rx.packets 5\n", "\ndev.tx.in_flight ", "\ndev.rx_length_errors ", "\ndev.faults.used_len 1\n", "\ndev.link_up 1\n",
		"\nnapi.time_squeeze ", "\nnapi.irq_exit_runs ", "\nnapi.napis.eth0-rx.polls 7\n", "\nnapi.napis.eth0-tx.hist.64+ ",
		"\npool.frames.in_use ", "\npool.large.double_free ", "\nirq.vector.33.count 1200\n", "\nirq.idle_halts ",
		"\nsvc.stats.refused ", "\nsvc.agent.refused ", "\nsvc.agent.malformed 3\n",
		"\nlatency.total.p50_ns 41000\n", "\nlatency.total.bucket.1023 5\n", "\nlatency.wakeup.count ",
		"\nmem.in_use_bytes ", "\nmem.goroutines "} {
		if !strings.Contains(text, want) {
			t.Errorf("no %q in\n%s", strings.TrimSpace(want), text)
		}
	}
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	if want := "end " + fmtInt(int64(len(lines)-1)); lines[len(lines)-1] != want {
		t.Errorf("last line %q, want %q", lines[len(lines)-1], want)
	}
	if v := s.Values(); v["Udp.InDatagrams"] != 12 || v["dev.faults.used_len"] != 1 || int64(len(v)) != int64(len(lines)-1) {
		t.Errorf("Values: Udp.InDatagrams %d, dev.faults.used_len %d, %d names for %d lines",
			v["Udp.InDatagrams"], v["dev.faults.used_len"], len(v), len(lines)-1)
	}
}

// Anything but the complete, well-formed machine form is an error: a
// counter is never read as 0 because its line is missing or reworded.
func TestParseCountersErrors(t *testing.T) {
	good := render(t, full())
	n := strings.Count(good, "\n") - 1
	end := "end " + fmtInt(int64(n)) + "\n"
	body := strings.TrimSuffix(good, end)
	for _, tc := range []struct {
		name, text, want string
	}{
		{"missing line", strings.Replace(good, "Udp.NoPorts ", "Udp.InErrors ", 1), "given twice"},
		{"dropped line", strings.Replace(body, "\nUdp.NoPorts ", "\nX", 1) + end, "not \"<name> <value>\""},
		{"missing counter", removeLine(body, "Udp.NoPorts") + "end " + fmtInt(int64(n-1)) + "\n", "missing Udp.NoPorts"},
		{"missing in keyed part", removeLine(body, "pool.large.peak_in_use") + "end " + fmtInt(int64(n-1)) + "\n", "missing pool.large.peak_in_use"},
		{"reworded", strings.Replace(good, "\nUdp.NoPorts ", "\nUdp.NoPort ", 1), "Udp.NoPort: unknown counter"},
		{"unknown part", "frob.x 1\nend 1\n", "unknown counter"},
		{"duplicate", body + "Udp.NoPorts 1\nend " + fmtInt(int64(n+1)) + "\n", "Udp.NoPorts given twice"},
		{"negative unsigned", strings.Replace(good, "\nUdp.NoPorts ", "\nUdp.NoPorts -", 1), "not a 64-bit unsigned"},
		{"not a number", "Udp.NoPorts x\nend 1\n", "not a 64-bit unsigned"},
		{"leading zero", "dev.link_up 01\nend 1\n", "not 0 or 1"},
		{"too big", "udp.3.local_port 65536\nend 1\n", "16-bit"},
		{"extra field", "Udp.NoPorts 1 2\nend 1\n", "not \"<name> <value>\""},
		{"tab", "Udp.NoPorts\t1\nend 1\n", "not \"<name> <value>\""},
		{"no end", body, "no end line"},
		{"truncated", good[:len(good)/2], "no end line"},
		{"wrong count", body + "end 3\n", "counters came before it"},
		{"after end", good + "Udp.NoPorts 1\n", "after the end line"},
		{"no newline", strings.TrimSuffix(good, "\n"), "no end line"},
		{"empty", "", "no end line"},
		{"section name", "unknown section \"counters\"\n", "not \"<name> <value>\""},
		{"bad key", "pool..in_use 1\nend 1\n", "unknown counter"},
		{"bad bucket", "latency.total.bucket.x 1\nend 1\n", "unknown counter"},
		{"bad icmp type", "IcmpMsg.InType256 1\nend 1\n", "IcmpMsg"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := ParseCounters(tc.text)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want one with %q (snapshot %v)", err, tc.want, s != nil)
			}
		})
	}
}

func removeLine(text, name string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if !strings.HasPrefix(l, name+" ") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// The service serves the stack's counters in the machine form, and "all"
// leaves it out.
func TestAnswerCounters(t *testing.T) {
	e := newEnv(t, "")
	e.inject(t, netip.MustParseAddr("10.0.2.9"), []byte("counters\n"))
	reply, ok := e.serveOne(t)
	if !ok {
		t.Fatal("refused")
	}
	s, err := ParseCounters(reply)
	if err != nil {
		t.Fatalf("%v\n%s", err, reply)
	}
	// The request itself was received and read, not the reply.
	if s.Stack == nil || s.Latency == nil || s.Stack.Udp.InDatagrams != 1 || s.Stack.Ip.InReceives != 1 || len(s.Stack.Sockets) != 1 ||
		s.Stack.Sockets[0].LocalPort != Port {
		t.Fatalf("snapshot %+v", s.Stack)
	}
	var all bytes.Buffer
	e.svc.Write(&all, "all")
	if strings.Contains(all.String(), "== counters") || strings.Contains(all.String(), "Udp.InDatagrams ") {
		t.Errorf("all has the machine form:\n%s", all.String())
	}
}

// FuzzParseCounters: the parser never panics, and what it accepts
// renders back to a text that parses to the same snapshot.
func FuzzParseCounters(f *testing.F) {
	var b bytes.Buffer
	WriteCounters(&b, full())
	f.Add(b.String())
	f.Add("Udp.NoPorts 1\nend 1\n")
	f.Add("IcmpMsg.InType8 3\nlatency.total.bucket.7 1\nend 2\n")
	f.Add("pool.frames.size 2048\nend 1\n")
	f.Add("udp.3.drops 1\nend 1\n")
	f.Fuzz(func(t *testing.T, text string) {
		s, err := ParseCounters(text)
		if err != nil {
			return
		}
		var out bytes.Buffer
		if err := WriteCounters(&out, s); err != nil {
			t.Fatalf("accepted %q but cannot render it: %v", text, err)
		}
		s2, err := ParseCounters(out.String())
		if err != nil || !reflect.DeepEqual(s, s2) {
			t.Fatalf("accepted %q; rendered %q; reparsed: %v", text, out.String(), err)
		}
	})
}
