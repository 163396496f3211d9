package ilist

import (
	"slices"
	"testing"
)

type item struct {
	id   int
	link Entry[*item]
}

func (it *item) Links() *Entry[*item] { return &it.link }

// contents walks l forwards and backwards and checks both walks, Len,
// Front and Back agree.
func contents(t *testing.T, l *List[*item]) []int {
	t.Helper()
	var fwd, back []int
	for e := l.Front(); e != nil; e = Next(e) {
		fwd = append(fwd, e.id)
	}
	for e := l.Back(); e != nil; e = Prev(e) {
		back = append(back, e.id)
	}
	slices.Reverse(back)
	if !slices.Equal(fwd, back) {
		t.Fatalf("forward walk %v, backward walk reversed %v", fwd, back)
	}
	if len(fwd) != l.Len() || (l.Len() == 0) != l.Empty() {
		t.Fatalf("walk has %d elements, Len %d, Empty %v", len(fwd), l.Len(), l.Empty())
	}
	return fwd
}

func TestOperations(t *testing.T) {
	items := make([]*item, 6)
	for i := range items {
		items[i] = &item{id: i}
	}
	tests := []struct {
		name string
		ops  func(l, other *List[*item])
		want []int
	}{
		{"empty", func(l, o *List[*item]) {}, nil},
		{"push back keeps order", func(l, o *List[*item]) {
			l.PushBack(items[0])
			l.PushBack(items[1])
			l.PushBack(items[2])
		}, []int{0, 1, 2}},
		{"push front reverses", func(l, o *List[*item]) {
			l.PushFront(items[0])
			l.PushFront(items[1])
			l.PushFront(items[2])
		}, []int{2, 1, 0}},
		{"remove middle", func(l, o *List[*item]) {
			l.PushBack(items[0])
			l.PushBack(items[1])
			l.PushBack(items[2])
			l.Remove(items[1])
		}, []int{0, 2}},
		{"remove head and tail", func(l, o *List[*item]) {
			l.PushBack(items[0])
			l.PushBack(items[1])
			l.PushBack(items[2])
			l.Remove(items[0])
			l.Remove(items[2])
		}, []int{1}},
		{"remove only", func(l, o *List[*item]) {
			l.PushBack(items[0])
			l.Remove(items[0])
		}, nil},
		{"pop front", func(l, o *List[*item]) {
			l.PushBack(items[0])
			l.PushBack(items[1])
			if e := l.PopFront(); e != items[0] {
				panic("PopFront returned the wrong element")
			}
		}, []int{1}},
		{"pop empty", func(l, o *List[*item]) {
			if e := l.PopFront(); e != nil {
				panic("PopFront of an empty list returned an element")
			}
		}, nil},
		{"relink after remove", func(l, o *List[*item]) {
			l.PushBack(items[0])
			l.PushBack(items[1])
			l.Remove(items[0])
			l.PushBack(items[0])
		}, []int{1, 0}},
		{"splice into empty", func(l, o *List[*item]) {
			o.PushBack(items[3])
			o.PushBack(items[4])
			l.SpliceBack(o)
		}, []int{3, 4}},
		{"splice onto tail", func(l, o *List[*item]) {
			l.PushBack(items[0])
			o.PushBack(items[3])
			o.PushBack(items[4])
			l.SpliceBack(o)
			l.PushBack(items[5])
		}, []int{0, 3, 4, 5}},
		{"splice empty", func(l, o *List[*item]) {
			l.PushBack(items[0])
			l.SpliceBack(o)
		}, []int{0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, it := range items {
				it.link = Entry[*item]{}
			}
			var l, other List[*item]
			tt.ops(&l, &other)
			if got := contents(t, &l); !slices.Equal(got, tt.want) {
				t.Fatalf("list %v, want %v", got, tt.want)
			}
			if got := contents(t, &other); len(got) != 0 {
				t.Fatalf("spliced-from list still holds %v", got)
			}
			for _, it := range items {
				want := slices.Contains(tt.want, it.id)
				if it.link.Linked() != want {
					t.Errorf("item %d Linked() = %v, want %v", it.id, it.link.Linked(), want)
				}
			}
		})
	}
}

func TestMisusePanics(t *testing.T) {
	tests := []struct {
		name string
		f    func()
	}{
		{"push back twice", func() {
			var l List[*item]
			it := &item{}
			l.PushBack(it)
			l.PushBack(it)
		}},
		{"push front of linked", func() {
			var l List[*item]
			it := &item{}
			l.PushBack(it)
			l.PushFront(it)
		}},
		{"remove unlinked", func() {
			var l List[*item]
			l.Remove(&item{})
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Fatal("no panic")
				}
			}()
			tt.f()
		})
	}
}

// FuzzList runs a sequence of operations on two lists and on a slice
// model of each, and checks they agree after every step.
func FuzzList(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 4, 5, 6, 7})
	f.Add([]byte{0x10, 0x21, 0x32, 0x43, 0x54, 0x65, 0x76, 0x87, 0x98})
	f.Fuzz(func(t *testing.T, ops []byte) {
		items := make([]*item, 8)
		for i := range items {
			items[i] = &item{id: i}
		}
		lists := [2]List[*item]{}
		models := [2][]int{}
		where := make([]int, len(items)) // 0: on no list, else list+1
		for _, op := range ops {
			it := items[op&7]
			li := int(op>>3) & 1
			l, m := &lists[li], &models[li]
			switch op >> 4 % 5 {
			case 0:
				if where[it.id] == 0 {
					l.PushBack(it)
					*m = append(*m, it.id)
					where[it.id] = li + 1
				}
			case 1:
				if where[it.id] == 0 {
					l.PushFront(it)
					*m = slices.Insert(*m, 0, it.id)
					where[it.id] = li + 1
				}
			case 2:
				if where[it.id] != 0 {
					ol := where[it.id] - 1
					lists[ol].Remove(it)
					models[ol] = slices.DeleteFunc(models[ol], func(x int) bool { return x == it.id })
					where[it.id] = 0
				}
			case 3:
				if e := l.PopFront(); e != nil {
					if len(*m) == 0 || (*m)[0] != e.id {
						t.Fatalf("PopFront gave %d, model %v", e.id, *m)
					}
					*m = (*m)[1:]
					where[e.id] = 0
				} else if len(*m) != 0 {
					t.Fatalf("PopFront gave nothing, model %v", *m)
				}
			case 4:
				o := 1 - li
				for _, id := range models[o] {
					where[id] = li + 1
				}
				l.SpliceBack(&lists[o])
				*m = append(*m, models[o]...)
				models[o] = nil
			}
			for i := range lists {
				if got := contents(t, &lists[i]); !slices.Equal(got, models[i]) {
					t.Fatalf("list %d is %v, model %v", i, got, models[i])
				}
			}
		}
	})
}

func BenchmarkPushPop(b *testing.B) {
	var l List[*item]
	items := make([]item, 64)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		l.PushBack(&items[i&63])
		if l.Len() == 64 {
			for !l.Empty() {
				l.PopFront()
			}
		}
	}
}
