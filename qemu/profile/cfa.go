package profile

import (
	"encoding/binary"
	"errors"
	"sort"
)

// The call frame information in .debug_frame says, for every PC, where
// the canonical frame address (CFA: the stack pointer before the call that
// entered the function) is. On amd64 the return address lies at CFA-8 and,
// once a Go function has set up its frame, its frame pointer is CFA-16.
// The sampler uses it for the stopped function alone: one that has not
// (yet, or ever) pushed a frame pointer would otherwise hide its caller.

// fde is one function's frame description.
type fde struct {
	lo, hi uint64
	cie    *cie
	insns  []byte
}

type cie struct {
	codeAlign uint64
	dataAlign int64
	insns     []byte
}

// dwarfRSP is amd64's stack pointer in DWARF register numbering.
const dwarfRSP = 7

var errCFA = errors.New("unsupported call frame information")

// parseFrames reads a .debug_frame section (32-bit DWARF, little endian).
func parseFrames(b []byte) ([]fde, error) {
	cies := map[uint32]*cie{}
	var fdes []fde
	for off := 0; off+4 <= len(b); {
		n := int(binary.LittleEndian.Uint32(b[off:]))
		if n == 0xffffffff {
			return nil, errCFA // 64-bit DWARF
		}
		end := off + 4 + n
		if n < 4 || end > len(b) {
			return nil, errCFA
		}
		entry := b[off+4 : end]
		id := binary.LittleEndian.Uint32(entry)
		if id == 0xffffffff {
			c, err := parseCIE(entry[4:])
			if err != nil {
				return nil, err
			}
			cies[uint32(off)] = c
		} else {
			c := cies[id]
			if c == nil || len(entry) < 20 {
				return nil, errCFA
			}
			lo := binary.LittleEndian.Uint64(entry[4:])
			size := binary.LittleEndian.Uint64(entry[12:])
			fdes = append(fdes, fde{lo: lo, hi: lo + size, cie: c, insns: entry[20:]})
		}
		off = end
	}
	sort.Slice(fdes, func(i, j int) bool { return fdes[i].lo < fdes[j].lo })
	return fdes, nil
}

func parseCIE(b []byte) (*cie, error) {
	if len(b) < 2 {
		return nil, errCFA
	}
	version := b[0]
	if b[1] != 0 { // augmentation: only "" is understood
		return nil, errCFA
	}
	r := &reader{b: b[2:]}
	if version == 4 {
		r.skip(2) // address and segment selector sizes
	}
	c := &cie{codeAlign: r.uleb(), dataAlign: r.sleb()}
	if version == 1 {
		r.skip(1)
	} else {
		r.uleb()
	}
	if r.err {
		return nil, errCFA
	}
	c.insns = r.b
	return c, nil
}

// cfaOffset returns the CFA's offset from RSP at pc, if the call frame
// information defines the CFA as RSP plus an offset there.
func cfaOffset(fdes []fde, pc uint64) (int64, bool) {
	i := sort.Search(len(fdes), func(i int) bool { return fdes[i].lo > pc }) - 1
	if i < 0 || pc >= fdes[i].hi {
		return 0, false
	}
	f := &fdes[i]
	st := cfaState{reg: dwarfRSP}
	loc := f.lo
	if !st.run(f.cie, f.cie.insns, &loc, pc) || !st.run(f.cie, f.insns, &loc, pc) || st.reg != dwarfRSP {
		return 0, false
	}
	return st.off, true
}

type cfaState struct {
	reg   uint64
	off   int64
	saved []cfaState
}

// run interprets the CFA rules up to pc; register rules other than the
// CFA's are read and ignored. It reports false on what it cannot follow.
func (st *cfaState) run(c *cie, insns []byte, loc *uint64, pc uint64) bool {
	r := &reader{b: insns}
	advance := func(d uint64) bool {
		*loc += d * c.codeAlign
		return *loc <= pc
	}
	for len(r.b) > 0 && !r.err {
		op := r.byte()
		switch op >> 6 {
		case 1: // DW_CFA_advance_loc
			if !advance(uint64(op & 0x3f)) {
				return true
			}
			continue
		case 2: // DW_CFA_offset
			r.uleb()
			continue
		case 3: // DW_CFA_restore
			continue
		}
		switch op {
		case 0x00: // nop
		case 0x01: // set_loc
			*loc = r.u64()
			if *loc > pc {
				return true
			}
		case 0x02:
			if !advance(uint64(r.byte())) {
				return true
			}
		case 0x03:
			if !advance(uint64(r.u16())) {
				return true
			}
		case 0x04:
			if !advance(uint64(r.u32())) {
				return true
			}
		case 0x05, 0x09, 0x14: // offset_extended, register, val_offset
			r.uleb()
			r.uleb()
		case 0x06, 0x07, 0x08: // restore_extended, undefined, same_value
			r.uleb()
		case 0x0a: // remember_state
			st.saved = append(st.saved, cfaState{reg: st.reg, off: st.off})
		case 0x0b: // restore_state
			if len(st.saved) == 0 {
				return false
			}
			s := st.saved[len(st.saved)-1]
			st.saved = st.saved[:len(st.saved)-1]
			st.reg, st.off = s.reg, s.off
		case 0x0c: // def_cfa
			st.reg, st.off = r.uleb(), int64(r.uleb())
		case 0x0d: // def_cfa_register
			st.reg = r.uleb()
		case 0x0e: // def_cfa_offset
			st.off = int64(r.uleb())
		case 0x11, 0x15: // offset_extended_sf, val_offset_sf
			r.uleb()
			r.sleb()
		case 0x12: // def_cfa_sf
			st.reg, st.off = r.uleb(), r.sleb()*c.dataAlign
		case 0x13: // def_cfa_offset_sf
			st.off = r.sleb() * c.dataAlign
		case 0x10, 0x16: // expression, val_expression
			r.uleb()
			r.skip(int(r.uleb()))
		default: // def_cfa_expression and vendor extensions
			return false
		}
	}
	return !r.err
}

// reader decodes the little-endian and LEB128 fields of call frame
// information; running out of bytes sets err.
type reader struct {
	b   []byte
	err bool
}

func (r *reader) skip(n int) {
	if n < 0 || n > len(r.b) {
		r.err, r.b = true, nil
		return
	}
	r.b = r.b[n:]
}

func (r *reader) take(n int) []byte {
	if n > len(r.b) {
		r.err, r.b = true, nil
		return make([]byte, n)
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}

func (r *reader) byte() byte  { return r.take(1)[0] }
func (r *reader) u16() uint16 { return binary.LittleEndian.Uint16(r.take(2)) }
func (r *reader) u32() uint32 { return binary.LittleEndian.Uint32(r.take(4)) }
func (r *reader) u64() uint64 { return binary.LittleEndian.Uint64(r.take(8)) }

func (r *reader) uleb() uint64 {
	var v uint64
	for shift := uint(0); ; shift += 7 {
		b := r.byte()
		if shift < 64 {
			v |= uint64(b&0x7f) << shift
		}
		if b&0x80 == 0 || r.err {
			return v
		}
	}
}

func (r *reader) sleb() int64 {
	var v int64
	shift := uint(0)
	for {
		b := r.byte()
		if shift < 64 {
			v |= int64(b&0x7f) << shift
		}
		shift += 7
		if b&0x80 == 0 || r.err {
			if shift < 64 && b&0x40 != 0 {
				v |= -1 << shift
			}
			return v
		}
	}
}
