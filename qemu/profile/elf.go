package profile

import (
	"debug/dwarf"
	"debug/elf"
	"debug/gosym"
	"encoding/hex"
	"fmt"
	"sort"
	"strings"
)

// Frame is one function on a symbolised stack.
type Frame struct {
	// Func is the function's name, e.g. "runtime.mallocgc"; empty when the
	// address is in no known function.
	Func string
	// File and Line locate the code at the address (in an inlined
	// function, the code of the inlined function).
	File string
	Line int
	// StartLine is the line of the function's declaration, 0 when unknown.
	StartLine int
}

// Image is an ELF image's executable segment and the symbols to name its
// addresses: the DWARF (with inlined functions) when present, else the Go
// line table (.gopclntab), else the ELF symbol table.
type Image struct {
	// Path is the ELF file.
	Path string
	// Start and Limit bound the executable segment, Offset is its offset
	// in the file.
	Start, Limit, Offset uint64
	// TextStart and TextEnd bound .text, where return addresses must lie.
	TextStart, TextEnd uint64
	// BuildID is the Go build ID, else the GNU build ID (hex), else empty.
	BuildID string

	funcs  []dwFunc // by lo
	lines  []lineRow
	gosym  *gosym.Table
	syms   []elf.Symbol // STT_FUNC symbols by value, the last resort
	fdes   []fde        // call frame information, by PC
	frames map[uint64][]Frame
}

type dwFunc struct {
	lo, hi    uint64
	name      string
	declLine  int
	inlined   []inlined
	nameFixup dwarf.Offset // abstract origin still to name
}

// inlined is one PC range of an inlined call within a function.
type inlined struct {
	lo, hi    uint64
	depth     int // 1: inlined into the function itself
	name      string
	declLine  int
	callFile  string
	callLine  int
	nameFixup dwarf.Offset
}

type lineRow struct {
	addr uint64
	file string
	line int
	end  bool // end of a sequence: no code from here
}

// Open reads the ELF at path.
func Open(path string) (*Image, error) {
	f, err := elf.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	img := &Image{Path: path, frames: map[uint64][]Frame{}}
	for _, p := range f.Progs {
		if p.Type == elf.PT_LOAD && p.Flags&elf.PF_X != 0 {
			img.Start, img.Limit, img.Offset = p.Vaddr, p.Vaddr+p.Memsz, p.Off
			break
		}
	}
	text := f.Section(".text")
	if text == nil || img.Limit == 0 {
		return nil, fmt.Errorf("%s: no .text in an executable segment", path)
	}
	img.TextStart, img.TextEnd = text.Addr, text.Addr+text.Size
	img.BuildID = buildID(f)

	if d, err := f.DWARF(); err == nil {
		if err := img.readDWARF(d); err != nil {
			return nil, fmt.Errorf("%s: DWARF: %w", path, err)
		}
	}
	if s := f.Section(".debug_frame"); s != nil && f.Machine == elf.EM_X86_64 {
		// Without it the sampler walks frame pointers alone.
		if b, err := s.Data(); err == nil {
			img.fdes, _ = parseFrames(b)
		}
	}
	if len(img.funcs) == 0 {
		if s := f.Section(".gopclntab"); s != nil {
			if data, err := s.Data(); err == nil {
				if t, err := gosym.NewTable(nil, gosym.NewLineTable(data, img.TextStart)); err == nil {
					img.gosym = t
				}
			}
		}
	}
	if syms, err := f.Symbols(); err == nil {
		for _, s := range syms {
			if elf.ST_TYPE(s.Info) == elf.STT_FUNC && s.Value != 0 {
				img.syms = append(img.syms, s)
			}
		}
		sort.Slice(img.syms, func(i, j int) bool { return img.syms[i].Value < img.syms[j].Value })
	}
	return img, nil
}

// buildID reads the Go build ID note, else the GNU one.
func buildID(f *elf.File) string {
	var gnu string
	for _, s := range f.Sections {
		if s.Type != elf.SHT_NOTE {
			continue
		}
		b, err := s.Data()
		if err != nil || len(b) < 16 {
			continue
		}
		o := f.ByteOrder
		namesz, descsz, typ := o.Uint32(b), o.Uint32(b[4:]), o.Uint32(b[8:])
		nameEnd := 12 + int(namesz+3)&^3
		if nameEnd+int(descsz) > len(b) {
			continue
		}
		name, desc := strings.TrimRight(string(b[12:12+namesz]), "\x00"), b[nameEnd:nameEnd+int(descsz)]
		switch {
		case name == "Go" && typ == 4:
			return string(desc)
		case name == "GNU" && typ == 3:
			gnu = hex.EncodeToString(desc)
		}
	}
	return gnu
}

// readDWARF collects the functions with their inlined calls and every line
// table row.
func (img *Image) readDWARF(d *dwarf.Data) error {
	names := map[dwarf.Offset]string{} // abstract and concrete subprograms
	decl := map[dwarf.Offset]int{}
	r := d.Reader()
	for {
		cu, err := r.Next()
		if err != nil {
			return err
		}
		if cu == nil {
			break
		}
		if cu.Tag != dwarf.TagCompileUnit {
			r.SkipChildren()
			continue
		}
		var files []*dwarf.LineFile
		if lr, err := d.LineReader(cu); err == nil && lr != nil {
			var le dwarf.LineEntry
			for lr.Next(&le) == nil {
				name := ""
				if le.File != nil {
					name = le.File.Name
				}
				img.lines = append(img.lines, lineRow{le.Address, name, le.Line, le.EndSequence})
			}
			files = lr.Files()
		}
		fileName := func(e *dwarf.Entry) string {
			i, ok := e.Val(dwarf.AttrCallFile).(int64)
			if !ok || i < 0 || int(i) >= len(files) || files[i] == nil {
				return ""
			}
			return files[i].Name
		}
		if !cu.Children {
			continue
		}
		if err := img.readCU(d, r, names, decl, fileName); err != nil {
			return err
		}
	}
	// Name what was named through an abstract origin.
	for i := range img.funcs {
		f := &img.funcs[i]
		if f.name == "" {
			f.name, f.declLine = names[f.nameFixup], decl[f.nameFixup]
		}
		for j := range f.inlined {
			in := &f.inlined[j]
			if in.name == "" {
				in.name, in.declLine = names[in.nameFixup], decl[in.nameFixup]
			}
		}
	}
	sort.Slice(img.funcs, func(i, j int) bool { return img.funcs[i].lo < img.funcs[j].lo })
	// At an address where one sequence ends and another begins, the
	// beginning must win: ends sort first.
	sort.SliceStable(img.lines, func(i, j int) bool {
		a, b := img.lines[i], img.lines[j]
		return a.addr < b.addr || a.addr == b.addr && a.end && !b.end
	})
	return nil
}

// readCU reads the entries of one compilation unit, r positioned after
// the unit's entry.
func (img *Image) readCU(d *dwarf.Data, r *dwarf.Reader, names map[dwarf.Offset]string, decl map[dwarf.Offset]int, callFile func(*dwarf.Entry) string) error {
	// The stack of open entries with children; fn is the subprogram being
	// read, if concrete, and inlDepth how many inlined calls enclose.
	type open struct {
		inl bool
	}
	var stack []open
	var fn *dwFunc
	inlDepth := 0
	for {
		e, err := r.Next()
		if err != nil {
			return err
		}
		if e == nil {
			return nil
		}
		if e.Tag == 0 { // end of an entry's children
			if len(stack) == 0 {
				return nil
			}
			top := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			if top.inl {
				inlDepth--
			}
			if len(stack) == 0 {
				fn = nil
			}
			continue
		}
		switch e.Tag {
		case dwarf.TagSubprogram:
			if n, ok := e.Val(dwarf.AttrName).(string); ok {
				names[e.Offset] = n
				if l, ok := e.Val(dwarf.AttrDeclLine).(int64); ok {
					decl[e.Offset] = int(l)
				}
			}
			if len(stack) == 0 {
				if ranges, _ := d.Ranges(e); len(ranges) > 0 {
					name, _ := e.Val(dwarf.AttrName).(string)
					origin, _ := e.Val(dwarf.AttrAbstractOrigin).(dwarf.Offset)
					lo, hi := ranges[0][0], ranges[0][1]
					for _, rg := range ranges[1:] {
						lo, hi = min(lo, rg[0]), max(hi, rg[1])
					}
					img.funcs = append(img.funcs, dwFunc{lo: lo, hi: hi, name: name, nameFixup: origin})
					fn = &img.funcs[len(img.funcs)-1]
					if name != "" {
						fn.declLine = decl[e.Offset]
					}
				}
			}
		case dwarf.TagInlinedSubroutine:
			if fn != nil {
				origin, _ := e.Val(dwarf.AttrAbstractOrigin).(dwarf.Offset)
				line, _ := e.Val(dwarf.AttrCallLine).(int64)
				ranges, _ := d.Ranges(e)
				for _, rg := range ranges {
					fn.inlined = append(fn.inlined, inlined{lo: rg[0], hi: rg[1], depth: inlDepth + 1,
						callFile: callFile(e), callLine: int(line), nameFixup: origin})
				}
			}
		}
		if e.Children {
			inl := e.Tag == dwarf.TagInlinedSubroutine && fn != nil
			if inl {
				inlDepth++
			}
			stack = append(stack, open{inl: inl})
		}
	}
}

// Frames returns the functions at pc, innermost (inlined) first. For a
// return address, pass the address of the call: the return address less
// one. An address in no known function is one Frame with an empty Func.
func (img *Image) Frames(pc uint64) []Frame {
	if fr, ok := img.frames[pc]; ok {
		return fr
	}
	fr := img.frames1(pc)
	img.frames[pc] = fr
	return fr
}

func (img *Image) frames1(pc uint64) []Frame {
	if len(img.funcs) > 0 {
		i := sort.Search(len(img.funcs), func(i int) bool { return img.funcs[i].lo > pc }) - 1
		if i >= 0 && pc < img.funcs[i].hi {
			return img.dwarfFrames(&img.funcs[i], pc)
		}
	}
	if img.gosym != nil {
		if file, line, fn := img.gosym.PCToLine(pc); fn != nil {
			return []Frame{{Func: fn.Name, File: file, Line: line}}
		}
	}
	i := sort.Search(len(img.syms), func(i int) bool { return img.syms[i].Value > pc }) - 1
	if i >= 0 && (pc < img.syms[i].Value+img.syms[i].Size || img.syms[i].Size == 0) {
		return []Frame{{Func: img.syms[i].Name}}
	}
	return []Frame{{}}
}

func (img *Image) dwarfFrames(f *dwFunc, pc uint64) []Frame {
	file, line := img.line(pc)
	// The inlined calls covering pc, outermost first: one per depth.
	var chain []*inlined
	for d := 1; ; d++ {
		var found *inlined
		for k := range f.inlined {
			in := &f.inlined[k]
			if in.depth == d && in.lo <= pc && pc < in.hi {
				found = in
				break
			}
		}
		if found == nil {
			break
		}
		chain = append(chain, found)
	}
	frames := make([]Frame, 0, len(chain)+1)
	for k := len(chain) - 1; k >= 0; k-- {
		frames = append(frames, Frame{Func: chain[k].name, File: file, Line: line, StartLine: chain[k].declLine})
		file, line = chain[k].callFile, chain[k].callLine
	}
	return append(frames, Frame{Func: f.name, File: file, Line: line, StartLine: f.declLine})
}

// line is the line table's file and line at pc.
func (img *Image) line(pc uint64) (string, int) {
	i := sort.Search(len(img.lines), func(i int) bool { return img.lines[i].addr > pc }) - 1
	if i < 0 || img.lines[i].end {
		return "", 0
	}
	return img.lines[i].file, img.lines[i].line
}

// CFAOffset returns, from the call frame information, the offset from
// RSP of the canonical frame address (RSP before the call) at pc.
func (img *Image) CFAOffset(pc uint64) (int64, bool) { return cfaOffset(img.fdes, pc) }

// InText reports whether pc lies in .text.
func (img *Image) InText(pc uint64) bool { return img.TextStart <= pc && pc < img.TextEnd }
