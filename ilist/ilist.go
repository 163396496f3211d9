// Package ilist is the intrusive doubly linked list every list in kaidoku
// uses (Linux's struct list_head): the element carries its own links, so
// linking and unlinking allocate nothing and Remove is O(1) given the
// element.
//
// An element type embeds an Entry and returns it from a method:
//
//	type napi struct {
//		link ilist.Entry[*napi]
//		...
//	}
//
//	func (n *napi) Links() *ilist.Entry[*napi] { return &n.link }
//
//	var poll ilist.List[*napi]
//	poll.PushBack(n)
//
// An element is on at most one list per Entry at a time; the list's owner
// serialises access, as with list_head.
package ilist

// Entry is the pair of links an element embeds, one per list it can be on.
// Its zero value is an unlinked entry.
type Entry[E any] struct {
	next, prev E
	linked     bool
}

// Linked reports whether the element is on a list through this entry
// (!list_empty on a self-linked list_head).
func (e *Entry[E]) Linked() bool { return e.linked }

// Linker is an element type: a pointer type whose Links method returns
// the Entry it is linked through.
type Linker[E any] interface {
	comparable
	Links() *Entry[E]
}

// List is a list of elements of type E. Its zero value is an empty list.
type List[E Linker[E]] struct {
	head, tail E
	n          int
}

// Len returns the number of elements on l.
func (l *List[E]) Len() int { return l.n }

// Empty reports whether l has no element (list_empty).
func (l *List[E]) Empty() bool { return l.n == 0 }

// Front returns the first element, or the zero E (nil) when l is empty.
func (l *List[E]) Front() E { return l.head }

// Back returns the last element, or the zero E when l is empty.
func (l *List[E]) Back() E { return l.tail }

// Next returns the element after e on its list, or the zero E at the end.
func Next[E Linker[E]](e E) E { return e.Links().next }

// Prev returns the element before e on its list, or the zero E at the
// front.
func Prev[E Linker[E]](e E) E { return e.Links().prev }

// PushBack appends e (list_add_tail). e must not be on a list through
// this entry.
func (l *List[E]) PushBack(e E) {
	var zero E
	le := e.Links()
	if le.linked {
		panic("ilist: PushBack of a linked element")
	}
	le.next, le.prev, le.linked = zero, l.tail, true
	if l.tail == zero {
		l.head = e
	} else {
		l.tail.Links().next = e
	}
	l.tail = e
	l.n++
}

// PushFront prepends e (list_add). e must not be on a list through this
// entry.
func (l *List[E]) PushFront(e E) {
	var zero E
	le := e.Links()
	if le.linked {
		panic("ilist: PushFront of a linked element")
	}
	le.next, le.prev, le.linked = l.head, zero, true
	if l.head == zero {
		l.tail = e
	} else {
		l.head.Links().prev = e
	}
	l.head = e
	l.n++
}

// Remove unlinks e, which must be on l (list_del_init).
func (l *List[E]) Remove(e E) {
	var zero E
	le := e.Links()
	if !le.linked {
		panic("ilist: Remove of an unlinked element")
	}
	if le.prev == zero {
		l.head = le.next
	} else {
		le.prev.Links().next = le.next
	}
	if le.next == zero {
		l.tail = le.prev
	} else {
		le.next.Links().prev = le.prev
	}
	le.next, le.prev, le.linked = zero, zero, false
	l.n--
}

// PopFront removes and returns the first element, or the zero E when l
// is empty.
func (l *List[E]) PopFront() E {
	e := l.head
	var zero E
	if e != zero {
		l.Remove(e)
	}
	return e
}

// SpliceBack moves every element of from to the back of l, leaving from
// empty (list_splice_tail_init).
func (l *List[E]) SpliceBack(from *List[E]) {
	var zero E
	if from.n == 0 {
		return
	}
	if l.tail == zero {
		l.head = from.head
	} else {
		l.tail.Links().next = from.head
		from.head.Links().prev = l.tail
	}
	l.tail = from.tail
	l.n += from.n
	*from = List[E]{}
}
