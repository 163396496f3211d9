package profile

import (
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/google/pprof/profile"
)

// Entry is one line of a Report table.
type Entry struct {
	Name  string
	Count int64
}

// Report is a profile summed by function and by package, in samples.
type Report struct {
	Total int64
	// Flat counts the samples whose innermost frame is in a function;
	// Cum those with the function anywhere on the stack (once per
	// sample).
	Flat, Cum []Entry
	// Packages counts the samples by the package of the innermost frame.
	Packages []Entry
}

// Summarize sums p's first sample value by function and package.
func Summarize(p *profile.Profile) Report {
	flat, cum, pkgs := map[string]int64{}, map[string]int64{}, map[string]int64{}
	var total int64
	for _, s := range p.Sample {
		v := s.Value[0]
		total += v
		seen := map[string]bool{}
		for i, l := range s.Location {
			names := locationNames(l)
			if i == 0 {
				flat[names[0]] += v
				pkgs[Package(names[0])] += v
			}
			for _, n := range names {
				if !seen[n] {
					seen[n] = true
					cum[n] += v
				}
			}
		}
	}
	return Report{Total: total, Flat: sorted(flat), Cum: sorted(cum), Packages: sorted(pkgs)}
}

// locationNames names a location's functions, innermost first; an
// unsymbolised one by its address.
func locationNames(l *profile.Location) []string {
	if len(l.Line) == 0 {
		return []string{fmt.Sprintf("%#x", l.Address)}
	}
	names := make([]string, len(l.Line))
	for i, ln := range l.Line {
		names[i] = ln.Function.Name
	}
	return names
}

func sorted(m map[string]int64) []Entry {
	out := make([]Entry, 0, len(m))
	for k, v := range m {
		out = append(out, Entry{k, v})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Count != out[j].Count {
			return out[i].Count > out[j].Count
		}
		return out[i].Name < out[j].Name
	})
	return out
}

// Package is the import path of a Go function's package:
// "github.com/x/y/z.(*T).m" is in "github.com/x/y/z". An address (no
// symbol) is in "?".
func Package(fn string) string {
	if strings.HasPrefix(fn, "0x") {
		return "?"
	}
	// Type arguments ("List[go.shape.*a/b.T]") may hold slashes too.
	head := fn
	if i := strings.IndexByte(fn, '['); i >= 0 {
		head = fn[:i]
	}
	dir, name := "", head
	if i := strings.LastIndex(head, "/"); i >= 0 {
		dir, name = head[:i+1], head[i+1:]
	}
	if i := strings.Index(name, "."); i >= 0 {
		name = name[:i]
	}
	return dir + name
}

// Print writes the top n entries of each table.
func (r Report) Print(w io.Writer, n int) {
	table := func(title string, es []Entry) {
		fmt.Fprintf(w, "%s (of %d samples)\n", title, r.Total)
		for i, e := range es {
			if i == n {
				break
			}
			fmt.Fprintf(w, "  %6d %5.1f%%  %s\n", e.Count, 100*float64(e.Count)/float64(max(r.Total, 1)), e.Name)
		}
	}
	table("flat by function", r.Flat)
	table("cumulative by function", r.Cum)
	table("flat by package", r.Packages)
}
