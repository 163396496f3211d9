package profile

import (
	"io"

	"github.com/google/pprof/profile"
)

// Build turns r into a pprof profile: sample types samples/count and
// cpu/nanoseconds (one interval per sample), one mapping for img's
// executable segment, locations carrying their (inlined) lines, so that
// pprof needs no binary to show it. The leaf address is where the vCPU
// stopped; the others are return addresses, named by their call
// instruction.
func Build(r *Result, img *Image) *profile.Profile {
	p := &profile.Profile{
		SampleType: []*profile.ValueType{
			{Type: "samples", Unit: "count"},
			{Type: "cpu", Unit: "nanoseconds"},
		},
		PeriodType:    &profile.ValueType{Type: "cpu", Unit: "nanoseconds"},
		Period:        r.Interval.Nanoseconds(),
		TimeNanos:     r.Start.UnixNano(),
		DurationNanos: r.Wall.Nanoseconds(),
		Comments:      []string{"kaidoku profile: " + r.String()},
	}
	m := &profile.Mapping{
		ID: 1, Start: img.Start, Limit: img.Limit, Offset: img.Offset,
		File: img.Path, BuildID: img.BuildID,
		HasFunctions: true, HasFilenames: true, HasLineNumbers: true, HasInlineFrames: true,
	}
	p.Mapping = []*profile.Mapping{m}

	type locKey struct {
		addr uint64
		leaf bool
	}
	type funcKey struct{ name, file string }
	locs := map[locKey]*profile.Location{}
	funcs := map[funcKey]*profile.Function{}
	function := func(f Frame) *profile.Function {
		k := funcKey{f.Func, f.File}
		if fn := funcs[k]; fn != nil {
			return fn
		}
		fn := &profile.Function{ID: uint64(len(p.Function) + 1), Name: f.Func, SystemName: f.Func, Filename: f.File, StartLine: int64(f.StartLine)}
		funcs[k] = fn
		p.Function = append(p.Function, fn)
		return fn
	}
	location := func(addr uint64, leaf bool) *profile.Location {
		k := locKey{addr, leaf}
		if l := locs[k]; l != nil {
			return l
		}
		l := &profile.Location{ID: uint64(len(p.Location) + 1), Address: addr}
		if img.Start <= addr && addr < img.Limit {
			l.Mapping = m
		}
		pc := addr
		if !leaf {
			pc--
		}
		for _, f := range img.Frames(pc) {
			if f.Func == "" {
				// An address in no function stays an address.
				break
			}
			l.Line = append(l.Line, profile.Line{Function: function(f), Line: int64(f.Line)})
		}
		locs[k] = l
		p.Location = append(p.Location, l)
		return l
	}
	period := r.Interval.Nanoseconds()
	for _, st := range r.Stacks {
		s := &profile.Sample{Value: []int64{1, period}}
		for i, addr := range st {
			s.Location = append(s.Location, location(addr, i == 0))
		}
		p.Sample = append(p.Sample, s)
	}
	return p
}

// Write writes r as a gzip-compressed profile.proto, which go tool pprof
// reads.
func Write(w io.Writer, r *Result, img *Image) error {
	p := Build(r, img)
	if err := p.CheckValid(); err != nil {
		return err
	}
	return p.Write(w)
}
