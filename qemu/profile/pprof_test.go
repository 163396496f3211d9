package profile

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/pprof/profile"
)

// callersResult is a Result of samples of testdata/callers' own stack:
// n copies of the whole stack and one of its leaf alone.
func callersResult(t *testing.T, n int) (*Result, *Image) {
	bin, frames := buildCallers(t, "")
	img, err := Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	pcs := physical(frames)
	stack := []uint64{pcs[0]}
	for _, pc := range pcs[1:] {
		stack = append(stack, pc+1) // return addresses
	}
	r := &Result{Interval: 5 * time.Millisecond, Start: time.Now(), Wall: time.Second, Stopped: 100 * time.Millisecond}
	for range n {
		r.Stacks = append(r.Stacks, stack)
	}
	r.Stacks = append(r.Stacks, []uint64{pcs[0]}, []uint64{0x10})
	return r, img
}

func TestWriteParses(t *testing.T) {
	r, img := callersResult(t, 3)
	var buf bytes.Buffer
	if err := Write(&buf, r, img); err != nil {
		t.Fatal(err)
	}
	p, err := profile.Parse(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Sample) != 5 || p.Period != 5e6 || p.SampleType[1].Type != "cpu" || p.SampleType[1].Unit != "nanoseconds" {
		t.Fatalf("%d samples, period %d, types %v", len(p.Sample), p.Period, p.SampleType)
	}
	for _, s := range p.Sample {
		if s.Value[0] != 1 || s.Value[1] != 5e6 {
			t.Fatalf("sample values %v, want 1 and the period", s.Value)
		}
	}
	// The whole stack: dump, then main.outer's location with main.inlined
	// inlined into it, ... runtime.goexit.
	var names [][]string
	for _, l := range p.Sample[0].Location {
		var n []string
		for _, ln := range l.Line {
			n = append(n, ln.Function.Name)
		}
		names = append(names, n)
	}
	if len(names) < 4 || !slices.Equal(names[0], []string{"main.dump"}) || !slices.Equal(names[1], []string{"main.inlined", "main.outer"}) || !slices.Equal(names[2], []string{"main.main"}) {
		t.Errorf("stack %q", names)
	}
	// Go build IDs are actionID/contentID: the Go note, not the GNU one.
	if m := p.Mapping[0]; m.File != img.Path || m.Start != img.Start || !strings.Contains(m.BuildID, "/") || !m.HasInlineFrames {
		t.Errorf("mapping %+v", m)
	}
	// An address in no function stays an address.
	if l := p.Sample[4].Location[0]; l.Address != 0x10 || len(l.Line) != 0 {
		t.Errorf("unknown address as %+v", l)
	}
	// The leaf of the full stacks and the leaf-only sample share a
	// location; a return address is its own.
	if p.Sample[0].Location[0] != p.Sample[3].Location[0] {
		t.Error("the same leaf address has two locations")
	}

	rep := Summarize(p)
	if rep.Total != 5 || rep.Flat[0] != (Entry{"main.dump", 4}) || rep.Packages[0] != (Entry{"main", 4}) {
		t.Errorf("report %+v", rep)
	}
	if i := slices.IndexFunc(rep.Cum, func(e Entry) bool { return e.Name == "main.inlined" }); i < 0 || rep.Cum[i].Count != 3 {
		t.Errorf("cumulative %+v, want main.inlined in 3 samples", rep.Cum)
	}
}

// TestPprofTop has go tool pprof read the profile without the binary.
func TestPprofTop(t *testing.T) {
	gocmd, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command")
	}
	r, img := callersResult(t, 3)
	path := filepath.Join(t.TempDir(), "guest.pprof")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := Write(f, r, img); err != nil {
		t.Fatal(err)
	}
	f.Close()
	os.Remove(img.Path) // pprof must need only the profile
	out, err := exec.Command(gocmd, "tool", "pprof", "-top", "-sample_index=cpu", path).CombinedOutput()
	if err != nil {
		t.Fatalf("go tool pprof: %v\n%s", err, out)
	}
	for _, want := range []string{"main.dump", "main.inlined", "Duration: 1s", "Total samples = 25ms"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("pprof -top lacks %q:\n%s", want, out)
		}
	}
}

func TestPackage(t *testing.T) {
	tests := []struct{ fn, want string }{
		{"runtime.mallocgc", "runtime"},
		{"runtime.gcBgMarkWorker.func1", "runtime"},
		{"github.com/kaidoku-net/kaidoku/napi.(*Softnet).poll", "github.com/kaidoku-net/kaidoku/napi"},
		{"github.com/kaidoku-net/kaidoku/netstack/internal/udp.rcv", "github.com/kaidoku-net/kaidoku/netstack/internal/udp"},
		{"github.com/usbarmory/tamago/amd64.(*CPU).halt", "github.com/usbarmory/tamago/amd64"},
		{"github.com/kaidoku-net/kaidoku/ilist.(*List[go.shape.*github.com/kaidoku-net/kaidoku/napi.Struct]).PushBack", "github.com/kaidoku-net/kaidoku/ilist"},
		{"slices.Index[go.shape.[]int,go.shape.int]", "slices"},
		{"0x10", "?"},
		{"main", "main"},
	}
	for _, tt := range tests {
		if got := Package(tt.fn); got != tt.want {
			t.Errorf("Package(%q) = %q, want %q", tt.fn, got, tt.want)
		}
	}
}
