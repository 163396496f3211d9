package profile

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
)

// buildCallers builds testdata/callers with ldflags and runs it: the
// binary and the runtime's frames of its stack.
func buildCallers(t *testing.T, ldflags string) (string, []runtime.Frame) {
	t.Helper()
	gocmd, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command to build the test program")
	}
	bin := filepath.Join(t.TempDir(), "callers")
	if out, err := exec.Command(gocmd, "build", "-buildmode=exe", "-ldflags="+ldflags, "-o", bin, "./testdata/callers").CombinedOutput(); err != nil {
		t.Fatalf("building testdata/callers: %v\n%s", err, out)
	}
	out, err := exec.Command(bin).Output()
	if err != nil {
		t.Fatal(err)
	}
	var frames []runtime.Frame
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Split(l, "\t")
		pc, _ := strconv.ParseUint(f[0], 10, 64)
		line, _ := strconv.Atoi(f[3])
		frames = append(frames, runtime.Frame{PC: uintptr(pc), Function: f[1], File: f[2], Line: line})
	}
	return bin, frames
}

// physical returns the frames' addresses, one per physical frame: the
// runtime lists an inlined call's caller at the next address.
func physical(frames []runtime.Frame) []uint64 {
	var pcs []uint64
	last := uintptr(0)
	for _, f := range frames {
		if f.PC != last+1 {
			pcs = append(pcs, uint64(f.PC))
		}
		last = f.PC
	}
	return pcs
}

// TestFramesMatchRuntime symbolises a program's stack from its DWARF and
// compares with the runtime's answer, inlined frames included.
func TestFramesMatchRuntime(t *testing.T) {
	bin, want := buildCallers(t, "")
	img, err := Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	if len(img.funcs) == 0 {
		t.Fatal("no functions read from the DWARF")
	}
	var got []Frame
	for _, pc := range physical(want) {
		got = append(got, img.Frames(pc)...)
	}
	if len(got) != len(want) {
		t.Fatalf("%d frames %+v, runtime says %d: %+v", len(got), got, len(want), want)
	}
	for i := range want {
		if got[i].Func != want[i].Function || !strings.HasSuffix(want[i].File, got[i].File) || got[i].Line != want[i].Line {
			t.Errorf("frame %d: %s %s:%d, runtime says %s %s:%d", i, got[i].Func, got[i].File, got[i].Line, want[i].Function, want[i].File, want[i].Line)
		}
	}
	if got[1].Func != "main.inlined" || got[2].Func != "main.outer" || got[1].StartLine != 20 {
		t.Errorf("frames 1, 2: %+v, %+v; want main.inlined (declared at line 20) inlined into main.outer", got[1], got[2])
	}
}

// TestFramesWithoutDWARF falls back on the Go line table: no inlined
// frames, but the physical function of each address.
func TestFramesWithoutDWARF(t *testing.T) {
	bin, want := buildCallers(t, "-w")
	img, err := Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	if len(img.funcs) != 0 || img.gosym == nil {
		t.Fatal("want the Go line table only")
	}
	for _, pc := range physical(want) {
		got := img.Frames(pc)
		var outer string
		for _, f := range want {
			if uint64(f.PC) == pc || uint64(f.PC) == pc+1 {
				outer = f.Function
			}
		}
		if len(got) != 1 || got[0].Func != outer {
			t.Errorf("Frames(%#x) = %+v, want %s", pc, got, outer)
		}
	}
}

func TestFramesUnknown(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	img, err := Open(exe)
	if err != nil {
		t.Fatal(err)
	}
	if !img.InText(img.TextStart) || img.TextStart < img.Start || img.TextEnd > img.Limit {
		t.Fatalf("text %#x-%#x outside the segment %#x-%#x", img.TextStart, img.TextEnd, img.Start, img.Limit)
	}
	for _, pc := range []uint64{0, 8, img.Limit + 1<<30} {
		if fr := img.Frames(pc); len(fr) != 1 || fr[0].Func != "" {
			t.Errorf("Frames(%#x) = %+v, want one unnamed frame", pc, fr)
		}
	}
}
