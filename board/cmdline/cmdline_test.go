package cmdline

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestSplit(t *testing.T) {
	for _, tc := range []struct {
		line string
		want []Word
	}{
		{"", nil},
		{"  \t\n ", nil},
		{"console=ttyS0 panic=-1 quiet", []Word{{"console", "ttyS0", true}, {"panic", "-1", true}, {"quiet", "", false}}},
		{"a= b", []Word{{"a", "", true}, {"b", "", false}}},
		{"a=b=c", []Word{{"a", "b=c", true}}},
		// An '=' in first position names nothing.
		{"=x", []Word{{"=x", "", false}}},
		{"==x", []Word{{"=", "x", true}}},
		// Quotes group white space; next_arg drops the one opening the
		// word or the value, and the last character if it is a quote.
		{`kaidoku.x="a b" y`, []Word{{"kaidoku.x", "a b", true}, {"y", "", false}}},
		{`"kaidoku.x=a b" y`, []Word{{"kaidoku.x", "a b", true}, {"y", "", false}}},
		{`"bare word"`, []Word{{"bare word", "", false}}},
		{`a="" b`, []Word{{"a", "", true}, {"b", "", false}}},
		{`a=" b`, []Word{{"a", " b", true}}},
		{`a=b"c d"e f`, []Word{{"a", `b"c d"e`, true}, {"f", "", false}}},
		{`a="`, []Word{{"a", "", true}}},
		// "--" ends the kernel's words: the rest is the init's.
		{"a -- kaidoku.test.panic", []Word{{"a", "", false}}},
		{`a "--" b`, []Word{{"a", "", false}}},
		{"a --=1 b", []Word{{"a", "", false}, {"--", "1", true}, {"b", "", false}}},
	} {
		if got := Split(tc.line); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("Split(%q) = %q, want %q", tc.line, got, tc.want)
		}
	}
}

func TestLookup(t *testing.T) {
	for _, tc := range []struct {
		line, name string
		want       Word
		ok         bool
	}{
		{"kaidoku.tsc_khz=2596138", "kaidoku.tsc_khz", Word{"kaidoku.tsc_khz", "2596138", true}, true},
		// Linux's words are not kaidoku's.
		{"tsc_khz=2596138", "kaidoku.tsc_khz", Word{}, false},
		{"tsc_early_khz=1 kaidoku.tsc_khz=2", "kaidoku.tsc_khz", Word{"kaidoku.tsc_khz", "2", true}, true},
		// The last word wins; '-' and '_' are the same in names.
		{"kaidoku.tsc_khz=1 kaidoku.tsc-khz=3", "kaidoku.tsc_khz", Word{"kaidoku.tsc-khz", "3", true}, true},
		{"kaidoku.tsc_khz=1 -- kaidoku.tsc_khz=3", "kaidoku.tsc_khz", Word{"kaidoku.tsc_khz", "1", true}, true},
	} {
		got, ok := Lookup(tc.line, tc.name)
		if got != tc.want || ok != tc.ok {
			t.Errorf("Lookup(%q, %q) = %q, %v; want %q, %v", tc.line, tc.name, got, ok, tc.want, tc.ok)
		}
	}
}

// testSet is a Set over the parameters of the tests below.
type testSet struct {
	Set
	flag  bool
	every time.Duration
	n     uint64
	panic bool
}

func newTestSet() *testSet {
	s := &testSet{}
	s.Bool(&s.flag, "napi.threaded", "a flag")
	s.Duration(&s.every, "stats.console", time.Second, "a duration")
	s.Uint(&s.n, "tsc_khz", 7, "a number")
	s.Bool(&s.panic, "test.panic", "a test hook")
	return s
}

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		name string
		line string
		// flag, every, n and panic after Parse
		flag  bool
		every time.Duration
		n     uint64
		panic bool
		// errs are the errors' texts
		errs []string
	}{
		{name: "defaults", line: "", every: time.Second, n: 7},
		{
			name:  "Linux's words change nothing",
			line:  "console=ttyS0 panic=-1 quiet loglevel=3 earlyprintk=serial tsc_early_khz=2000 root=/dev/vda init=/bin/sh rw ro napi.threaded tsc_khz=5 test.panic",
			every: time.Second, n: 7,
		},
		{
			name: "kaidoku words", line: "console=ttyS0 kaidoku.napi.threaded kaidoku.stats.console=250ms kaidoku.tsc_khz=2596138",
			flag: true, every: 250 * time.Millisecond, n: 2596138,
		},
		{
			name: "dashes and underscores", line: "kaidoku.napi.threaded=on kaidoku.tsc-khz=9",
			flag: true, every: time.Second, n: 9,
		},
		{name: "bool values", line: "kaidoku.napi.threaded=1 kaidoku.napi.threaded=off", every: time.Second, n: 7},
		{name: "later wins", line: "kaidoku.tsc_khz=1 kaidoku.tsc_khz=2", every: time.Second, n: 2},
		{name: "after --, the init's", line: "kaidoku.tsc_khz=1 -- kaidoku.tsc_khz=2 kaidoku.bogus", every: time.Second, n: 1},
		{name: "test hook", line: "kaidoku.test.panic", every: time.Second, n: 7, panic: true},
		{
			name: "refused values keep the value", line: "kaidoku.tsc_khz=3 kaidoku.tsc_khz=lots kaidoku.stats.console=-1s kaidoku.stats.console kaidoku.napi.threaded=maybe",
			every: time.Second, n: 3,
			errs: []string{
				`kaidoku.tsc_khz=lots: want a decimal number, not "lots"; keeping 3`,
				`kaidoku.stats.console=-1s: want a duration such as 200us or 1s, not "-1s"; keeping 1s`,
				`kaidoku.stats.console: needs a value (kaidoku.stats.console=...); keeping 1s`,
				`kaidoku.napi.threaded=maybe: want on or off, not "maybe"; keeping off`,
			},
		},
		{
			name: "unknown kaidoku words, reported together", line: "kaidoku.bogus=1 panic=-1 kaidoku. kaidoku.x=\"a b\" kaidoku.test.exit=0",
			every: time.Second, n: 7,
			errs: []string{`Unknown kernel command line parameters "kaidoku.bogus=1 kaidoku. kaidoku.x=\"a b\" kaidoku.test.exit=0", ignored`},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newTestSet()
			errs := s.Parse(tc.line)
			var got []string
			for _, err := range errs {
				got = append(got, err.Error())
			}
			if !reflect.DeepEqual(got, tc.errs) {
				t.Errorf("errors\n%q\nwant\n%q", got, tc.errs)
			}
			if s.flag != tc.flag || s.every != tc.every || s.n != tc.n || s.panic != tc.panic {
				t.Errorf("flag %v every %v n %v panic %v; want %v %v %v %v", s.flag, s.every, s.n, s.panic, tc.flag, tc.every, tc.n, tc.panic)
			}
		})
	}
}

// A BoolDefault flag that is on by default: a bare word or =on leaves it
// on, =off clears it, a refused value keeps it, and Default says on.
func TestBoolDefault(t *testing.T) {
	for _, tc := range []struct {
		line string
		want bool
		errs int
	}{
		{"", true, 0}, {"kaidoku.trace", true, 0}, {"kaidoku.trace=on", true, 0},
		{"kaidoku.trace=off", false, 0}, {"kaidoku.trace=0 kaidoku.trace=y", true, 0}, {"kaidoku.trace=maybe", true, 1},
	} {
		var s Set
		var on bool
		s.BoolDefault(&on, "trace", true, "a flag on by default")
		if errs := s.Parse(tc.line); on != tc.want || len(errs) != tc.errs {
			t.Errorf("%q: %v %v, want %v and %d errors", tc.line, on, errs, tc.want, tc.errs)
		}
		if p := s.Lookup("trace"); p.Default != "on" {
			t.Errorf("Default %q", p.Default)
		}
	}
}

func TestParseErrorTypes(t *testing.T) {
	s := newTestSet()
	errs := s.Parse("kaidoku.tsc_khz=x kaidoku.y")
	var ve *ValueError
	var ue *UnknownError
	if len(errs) != 2 || !errors.As(errs[0], &ve) || !errors.As(errs[1], &ue) {
		t.Fatalf("errors %v: want a *ValueError then an *UnknownError", errs)
	}
	if ve.Word.Name != "kaidoku.tsc_khz" || ve.Kept != "7" || len(ue.Words) != 1 || ue.Words[0].Name != "kaidoku.y" {
		t.Errorf("ValueError %+v, UnknownError %+v", ve, ue)
	}
}

func TestParams(t *testing.T) {
	s := newTestSet()
	var names []string
	for _, p := range s.Params() {
		names = append(names, p.Name)
		if p.Test() != strings.HasPrefix(p.Name, "test.") {
			t.Errorf("%s: Test() = %v", p.Name, p.Test())
		}
	}
	if want := []string{"napi.threaded", "stats.console", "tsc_khz", "test.panic"}; !reflect.DeepEqual(names, want) {
		t.Errorf("Params %q, want %q", names, want)
	}
	if p := s.Lookup("tsc-khz"); p == nil || p.Default != "7" {
		t.Errorf("Lookup(tsc-khz) = %+v", p)
	}
}

func TestVarRefusesBadNames(t *testing.T) {
	for _, name := range []string{"", "kaidoku.addr", "tsc-khz"} {
		t.Run(name, func(t *testing.T) {
			s := newTestSet()
			defer func() {
				if recover() == nil {
					t.Errorf("Var(%q) did not panic", name)
				}
			}()
			var n uint64
			s.Uint(&n, name, 0, "")
		})
	}
}

// FuzzSplit checks what Split promises on any line: words hold no white
// space outside quotes, a word's String splits back to that word, Lookup
// agrees with Split, and Parse applies only kaidoku words.
func FuzzSplit(f *testing.F) {
	for _, s := range []string{
		"console=ttyS0 panic=-1 quiet loglevel=3",
		`kaidoku.x="a b" "kaidoku.y=c d" -- e`,
		"kaidoku.test.panic kaidoku.tsc_khz=123 kaidoku.stats.console=1s kaidoku.napi.threaded=off",
		`a="`, "==", "\"\"", "kaidoku.=",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		words := Split(line)
		for _, w := range words {
			if !w.HasValue && w.Name == "--" {
				t.Fatalf("%q: -- returned as a word", line)
			}
			if strings.ContainsRune(w.Name, '"') || strings.ContainsRune(w.Value, '"') {
				continue // String cannot round-trip interior quotes
			}
			if w.Name == "" || strings.ContainsAny(w.Name, " \t\n\v\f\r=") {
				continue // neither can an empty name, nor one holding '=' or white space
			}
			if got := Split(w.String()); len(got) != 1 || got[0] != w {
				t.Fatalf("%q: word %q renders as %q, which splits to %q", line, w, w.String(), got)
			}
			if got, ok := Lookup(line, w.Name); !ok || normalize(got.Name) != normalize(w.Name) {
				t.Fatalf("%q: Lookup(%q) = %q, %v", line, w.Name, got, ok)
			}
		}
		s := newTestSet()
		errs := s.Parse(line)
		kaidoku := false
		for _, w := range words {
			kaidoku = kaidoku || strings.HasPrefix(w.Name, Namespace)
		}
		if !kaidoku && (len(errs) > 0 || s.flag || s.every != time.Second || s.n != 7 || s.panic) {
			t.Fatalf("%q: no kaidoku word, yet errors %v, flag %v every %v n %v panic %v", line, errs, s.flag, s.every, s.n, s.panic)
		}
	})
}
