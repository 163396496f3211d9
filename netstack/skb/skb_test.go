package skb

import (
	"sync"
	"testing"
)

func newTestPool(t testing.TB, size, count int) *Pool {
	t.Helper()
	p, err := NewPool("test", size, count, HeapMemory)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestBufferOps(t *testing.T) {
	tests := []struct {
		name    string
		ops     func(b *Buffer) bool
		wantLen int
		wantOff int
	}{
		{"reserve then put", func(b *Buffer) bool { b.Reserve(64); return b.Put(100) != nil }, 100, 64},
		{"push into headroom", func(b *Buffer) bool { b.Reserve(64); b.Put(10); return b.Push(14) != nil }, 24, 50},
		{"push beyond headroom", func(b *Buffer) bool { b.Reserve(4); return b.Push(5) == nil }, 0, 4},
		{"put beyond tailroom", func(b *Buffer) bool { return b.Put(257) == nil }, 0, 0},
		{"pull", func(b *Buffer) bool { b.Put(100); return b.Pull(14) }, 86, 14},
		{"pull too much", func(b *Buffer) bool { b.Put(10); return !b.Pull(11) }, 10, 0},
		{"trim", func(b *Buffer) bool { b.Put(100); b.Trim(60); return true }, 60, 0},
		{"trim longer is no-op", func(b *Buffer) bool { b.Put(10); b.Trim(60); return true }, 10, 0},
		{"setlen", func(b *Buffer) bool { return b.SetLen(256) }, 256, 0},
		{"setlen too long", func(b *Buffer) bool { return !b.SetLen(257) }, 0, 0},
	}
	p := newTestPool(t, 256, 1)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := p.Get()
			defer b.Free()
			if !tc.ops(b) {
				t.Fatal("operation result unexpected")
			}
			if b.Len() != tc.wantLen || b.DataOffset() != tc.wantOff {
				t.Fatalf("len %d off %d, want %d %d", b.Len(), b.DataOffset(), tc.wantLen, tc.wantOff)
			}
		})
	}
}

func TestPoolAccounting(t *testing.T) {
	p := newTestPool(t, 128, 2)
	a, b := p.Get(), p.Get()
	if p.Get() != nil {
		t.Fatal("third Get on a pool of two succeeded")
	}
	if s := p.Stats(); s.InUse != 2 || s.Exhausted != 1 || s.Truesize() != 128+Overhead {
		t.Fatalf("stats %+v", s)
	}
	a.Free()
	a.Free()
	b.Free()
	s := p.Stats()
	if s.InUse != 0 || s.DoubleFree != 1 || s.PeakInUse != 2 {
		t.Fatalf("stats %+v", s)
	}
	c := p.Get()
	if c.Len() != 0 || c.MAC != -1 || c.Truesize != 128+Overhead {
		t.Fatalf("reused buffer not reset: %+v", c)
	}
	c.Free()
}

func TestPoolAddresses(t *testing.T) {
	mem := func(n int) ([]byte, uint64, error) { return make([]byte, n), 0x5000_0000, nil }
	p, err := NewPool("dma", 2048, 4, mem)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[uint64]bool{}
	for i := 0; i < 4; i++ {
		b := p.Get()
		if b.Addr() < 0x5000_0000 || b.Addr() >= 0x5000_0000+4*2048 || seen[b.Addr()] {
			t.Fatalf("bad or repeated address %#x", b.Addr())
		}
		seen[b.Addr()] = true
		b.Reserve(12)
		if b.DataAddr() != b.Addr()+12 {
			t.Fatalf("DataAddr %#x", b.DataAddr())
		}
	}
}

func TestPoolConcurrent(t *testing.T) {
	p := newTestPool(t, 64, 8)
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 10000; i++ {
				if b := p.Get(); b != nil {
					b.Put(8)
					b.Free()
				}
			}
		}()
	}
	wg.Wait()
	if s := p.Stats(); s.InUse != 0 || s.DoubleFree != 0 {
		t.Fatalf("stats %+v", s)
	}
}

func TestQueue(t *testing.T) {
	p := newTestPool(t, 64, 8)
	var q, r Queue
	bs := make([]*Buffer, 6)
	for i := range bs {
		bs[i] = p.Get()
	}
	q.PushBack(bs[0])
	q.PushBack(bs[1])
	q.PushBack(bs[2])
	r.PushBack(bs[3])
	r.PushBack(bs[4])
	q.SpliceTailInit(&r)
	if q.Len() != 5 || !r.Empty() {
		t.Fatalf("splice: q %d r %d", q.Len(), r.Len())
	}
	if !q.Unlink(bs[4]) || q.Unlink(bs[5]) {
		t.Fatal("unlink")
	}
	q.PushBack(bs[5])
	want := []*Buffer{bs[0], bs[1], bs[2], bs[3], bs[5]}
	for i, w := range want {
		if got := q.PopFront(); got != w {
			t.Fatalf("pop %d: wrong buffer", i)
		}
		w.Free()
	}
	if q.PopFront() != nil || q.Len() != 0 {
		t.Fatal("queue not empty")
	}
	q.PushBack(bs[4])
	if q.Purge() != 1 || p.InUse() != 0 {
		t.Fatalf("purge left %d in use", p.InUse())
	}
}

func BenchmarkGetFree(b *testing.B) {
	p := newTestPool(b, 2048, 64)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		p.Get().Free()
	}
}
