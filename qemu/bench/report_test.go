package bench

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kaidoku-net/kaidoku/qemu/testbench"
)

func fakeResults() []Result {
	rtts := make([]time.Duration, 100)
	for i := range rtts {
		rtts[i] = time.Duration(100+i) * time.Microsecond
	}
	return []Result{
		{Peer: "kaidoku", Accel: "tcg", BootReady: 150 * time.Millisecond, ImageBytes: 3 << 20, MemInUse: 5 << 20, CPURTT: 0.4, CPULoad: 0.95,
			RTT:  testbench.EchoResult{Sent: 100, Received: 100, RTTs: rtts},
			Load: testbench.EchoResult{Sent: 1000, Received: 990, Lost: 10, Duration: time.Second},
			Latency: map[string]*testbench.Latency{"total": {Count: 10, P50: 50 * time.Microsecond, P99: 90 * time.Microsecond,
				Buckets: []testbench.Bucket{{Upper: 40 * time.Microsecond, Count: 5}, {Upper: 100 * time.Microsecond, Count: 5}}}}},
		{Peer: "broken", Err: errors.New("boom\nmore")},
	}
}

func TestMarkdown(t *testing.T) {
	md := Markdown(fakeResults(), Options{})
	for _, want := range []string{"| kaidoku | 150 µs | 198 µs | 990 | 1.00 % | 50 µs | 90 µs | 150 ms | 3.0 MiB | 5.0 MiB | 40 % / 95 % |", "| broken | failed: boom |", "Accelerator: tcg"} {
		if !strings.Contains(md, want) {
			t.Errorf("missing %q in\n%s", want, md)
		}
	}
}

func TestPlots(t *testing.T) {
	dir := t.TempDir()
	files, err := Plots(fakeResults(), dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 2 {
		t.Fatalf("files %v", files)
	}
	for _, f := range files {
		st, err := os.Stat(f)
		if err != nil || st.Size() < 1000 || filepath.Ext(f) != ".png" {
			t.Fatalf("%s: %v %v", f, st, err)
		}
	}
}
