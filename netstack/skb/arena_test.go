package skb

import (
	"sort"
	"testing"
)

func regionMemory(base uint64) Memory {
	return func(n int) ([]byte, uint64, error) { return make([]byte, n), base, nil }
}

func TestArenaBlocks(t *testing.T) {
	tests := []struct {
		name      string
		arena     int   // bytes
		sizes     []int // GetSize requests, in order
		wantBlock []int // storage handed out (0: nil expected)
	}{
		{"frames fill the arena", 3 * ArenaMinBlock, []int{2048, 2048, 2048, 2048}, []int{2048, 2048, 2048, 0}},
		{"smallest block that fits", 10 * ArenaMinBlock, []int{2049, 4096, 4097, 100}, []int{4096, 4096, 8192, 2048}},
		{"a large block needs an aligned run", 5 * ArenaMinBlock, []int{8192, 8192}, []int{8192, 0}},
		{"largest block", ArenaMaxBlock, []int{ArenaMaxBlock}, []int{ArenaMaxBlock}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, err := NewArena(tc.arena, regionMemory(0x1000_0000))
			if err != nil {
				t.Fatal(err)
			}
			p, err := NewArenaPool("large", ArenaMaxBlock, a)
			if err != nil {
				t.Fatal(err)
			}
			var got []*Buffer
			fails := 0
			for i, n := range tc.sizes {
				b := p.GetSize(n)
				if tc.wantBlock[i] == 0 {
					if b != nil {
						t.Errorf("request %d (%d bytes): got a block of %d, want none", i, n, len(b.Head()))
					}
					fails++
					continue
				}
				if b == nil || len(b.Head()) != tc.wantBlock[i] {
					t.Fatalf("request %d (%d bytes): got %v, want a block of %d", i, n, b, tc.wantBlock[i])
				}
				if b.Addr() < 0x1000_0000 || b.Addr()+uint64(len(b.Head())) > 0x1000_0000+uint64(tc.arena) {
					t.Errorf("block at %#x outside the arena", b.Addr())
				}
				got = append(got, b)
			}
			// Blocks never overlap.
			sort.Slice(got, func(i, j int) bool { return got[i].Addr() < got[j].Addr() })
			for i := 1; i < len(got); i++ {
				if got[i-1].Addr()+uint64(len(got[i-1].Head())) > got[i].Addr() {
					t.Errorf("blocks at %#x and %#x overlap", got[i-1].Addr(), got[i].Addr())
				}
			}
			if s := p.Stats(); s.Exhausted != uint64(fails) || s.InUse != len(got) {
				t.Errorf("pool stats %+v, want %d exhausted, %d in use", s, fails, len(got))
			}
			if s := a.Stats(); s.Failed != uint64(fails) {
				t.Errorf("arena stats %+v, want %d failed", s, fails)
			}
			for _, b := range got {
				b.Free()
			}
			if s := a.Stats(); s.InUse != 0 {
				t.Errorf("%d bytes in use after freeing everything", s.InUse)
			}
		})
	}
}

// TestArenaMerges checks that freed blocks merge with their buddies, so
// that memory that held frames can hold a large datagram afterwards.
func TestArenaMerges(t *testing.T) {
	a, err := NewArena(ArenaMaxBlock, HeapMemory)
	if err != nil {
		t.Fatal(err)
	}
	frames, _ := NewArenaPool("frames", 2048, a)
	large, _ := NewArenaPool("large", ArenaMaxBlock, a)
	var fs []*Buffer
	for b := frames.Get(); b != nil; b = frames.Get() {
		fs = append(fs, b)
	}
	if len(fs) != 1<<ArenaMaxOrder {
		t.Fatalf("%d frames from a %d-byte arena", len(fs), ArenaMaxBlock)
	}
	if large.Get() != nil {
		t.Fatal("a large buffer from a full arena")
	}
	// Free in an order that leaves holes until the end.
	for i := 0; i < len(fs); i += 2 {
		fs[i].Free()
	}
	if large.GetSize(4096) != nil {
		t.Fatal("a 4 KiB block although no two free frames are buddies")
	}
	for i := 1; i < len(fs); i += 2 {
		fs[i].Free()
	}
	b := large.Get()
	if b == nil || len(b.Head()) != ArenaMaxBlock {
		t.Fatal("freed frames did not merge back into the largest block")
	}
	fs[0].Free() // a second free is counted, not merged again
	if s := frames.Stats(); s.DoubleFree != 1 || s.InUse != 0 {
		t.Fatalf("frames %+v", s)
	}
	b.Free()
	if s := a.Stats(); s.InUse != 0 || s.Peak != ArenaMaxBlock {
		t.Fatalf("arena %+v", s)
	}
}

// An arena pool keeps the metadata of freed buffers for reuse, up to
// arenaSpares of it, and says how much in Stats.Spare: what a burst
// leaves on the heap is bounded, and a fixed pool reports none.
func TestArenaSpares(t *testing.T) {
	a, err := NewArena((arenaSpares+100)*ArenaMinBlock, HeapMemory)
	if err != nil {
		t.Fatal(err)
	}
	p, _ := NewArenaPool("small", 64, a)
	var bs []*Buffer
	for range arenaSpares + 100 {
		b := p.Get()
		if b == nil {
			t.Fatal("arena exhausted")
		}
		bs = append(bs, b)
	}
	if s := p.Stats().Spare; s != 0 {
		t.Fatalf("%d spares with every buffer in use", s)
	}
	for i, b := range bs {
		b.Free()
		if want := min(i+1, arenaSpares); p.Stats().Spare != want {
			t.Fatalf("after %d frees: %d spares, want %d", i+1, p.Stats().Spare, want)
		}
	}
	if b := p.Get(); b == nil || p.Stats().Spare != arenaSpares-1 {
		t.Fatalf("a Get did not reuse a spare: %d left", p.Stats().Spare)
	}
	fixed, _ := NewPool("fixed", 64, 4, HeapMemory)
	fixed.Get().Free()
	if s := fixed.Stats().Spare; s != 0 {
		t.Fatalf("fixed pool: %d spares", s)
	}
}
