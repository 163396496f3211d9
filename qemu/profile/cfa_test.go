package profile

import (
	"encoding/binary"
	"testing"
)

// frameSection builds a .debug_frame with one CIE (CFA = RSP+8) and one
// FDE for [0x1000, 0x1100) with the given instructions.
func frameSection(fdeInsns []byte) []byte {
	cieBody := []byte{0xff, 0xff, 0xff, 0xff, 3, 0, 1, 0x7c /* -4 */, 16, 0x0c, dwarfRSP, 8}
	var b []byte
	b = binary.LittleEndian.AppendUint32(b, uint32(len(cieBody)))
	b = append(b, cieBody...)
	fde := binary.LittleEndian.AppendUint32(nil, 0) // the CIE at offset 0
	fde = binary.LittleEndian.AppendUint64(fde, 0x1000)
	fde = binary.LittleEndian.AppendUint64(fde, 0x100)
	fde = append(fde, fdeInsns...)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(fde)))
	return append(b, fde...)
}

func TestCFAOffset(t *testing.T) {
	// Go's prologue: CFA = RSP+8 at entry, +16 after PUSHQ BP at 0x1004,
	// +0x38 after SUBQ at 0x100b; the epilogue at 0x10f0 remembers and
	// restores the state around a return path that pops everything.
	insns := []byte{
		0x44,       // advance 4
		0x13, 0x7c, // def_cfa_offset_sf -4*-4 = 16
		0x47,       // advance 7
		0x0e, 0x38, // def_cfa_offset 0x38
		0x02, 0xe5, // advance1 0xe5: 0x10f0
		0x0a,       // remember_state
		0x0e, 0x08, // def_cfa_offset 8
		0x43, // advance 3: 0x10f3
		0x0b, // restore_state
	}
	fdes, err := parseFrames(frameSection(insns))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		pc   uint64
		want int64
		ok   bool
	}{
		{0x0fff, 0, false},
		{0x1000, 8, true},
		{0x1003, 8, true},
		{0x1004, 16, true},
		{0x100a, 16, true},
		{0x100b, 0x38, true},
		{0x10ef, 0x38, true},
		{0x10f0, 8, true},
		{0x10f2, 8, true},
		{0x10f3, 0x38, true},
		{0x10ff, 0x38, true},
		{0x1100, 0, false},
	}
	for _, tt := range tests {
		got, ok := cfaOffset(fdes, tt.pc)
		if got != tt.want || ok != tt.ok {
			t.Errorf("cfaOffset(%#x) = %d, %v; want %d, %v", tt.pc, got, ok, tt.want, tt.ok)
		}
	}
	// Instructions it cannot follow (def_cfa_expression) give no answer.
	fdes, err = parseFrames(frameSection([]byte{0x0f, 0x01, 0x00}))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := cfaOffset(fdes, 0x1000); ok {
		t.Error("an expression CFA was taken for an offset")
	}
	if _, err := parseFrames(frameSection(insns)[:20]); err == nil {
		t.Error("a truncated section parsed")
	}
}

// TestCFAOffsetGoBinary reads a Go linker's .debug_frame: at a function's
// entry the CFA is RSP+8; where it calls out, its frame is set up.
func TestCFAOffsetGoBinary(t *testing.T) {
	bin, frames := buildCallers(t, "")
	img, err := Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	if len(img.fdes) == 0 {
		t.Fatal("no call frame information read")
	}
	var entry uint64
	for _, s := range img.syms {
		if s.Name == "main.dump" {
			entry = s.Value
		}
	}
	if off, ok := img.CFAOffset(entry); entry == 0 || !ok || off != 8 {
		t.Errorf("CFA at main.dump's entry %#x: RSP%+d, %v; want RSP+8", entry, off, ok)
	}
	if off, ok := img.CFAOffset(uint64(frames[0].PC)); !ok || off <= 16 {
		t.Errorf("CFA in main.dump's body: RSP%+d, %v; want its frame set up", off, ok)
	}
}
