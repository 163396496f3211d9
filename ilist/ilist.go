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

// Entry is the links an element embeds, one per list it can be on. The
// links point at entries, not elements, and the entry remembers its
// element while linked: walking and unlinking then need no call to the
// element's Links method, which a generic function can only make through
// its dictionary. Its zero value is an unlinked entry.
type Entry[E any] struct {
	next, prev *Entry[E]
	owner      E
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
	head, tail *Entry[E]
	n          int
}

// Len returns the number of elements on l.
func (l *List[E]) Len() int { return l.n }

// Empty reports whether l has no element (list_empty).
func (l *List[E]) Empty() bool { return l.n == 0 }

// ownerOf is le's element, or the zero E for a nil entry.
func ownerOf[E any](le *Entry[E]) E {
	if le == nil {
		var zero E
		return zero
	}
	return le.owner
}

// Front returns the first element, or the zero E (nil) when l is empty.
func (l *List[E]) Front() E { return ownerOf(l.head) }

// Back returns the last element, or the zero E when l is empty.
func (l *List[E]) Back() E { return ownerOf(l.tail) }

// Next returns the element after e on its list, or the zero E at the end.
func Next[E Linker[E]](e E) E { return ownerOf(e.Links().next) }

// Prev returns the element before e on its list, or the zero E at the
// front.
func Prev[E Linker[E]](e E) E { return ownerOf(e.Links().prev) }

// PushBack appends e (list_add_tail). e must not be on a list through
// this entry.
func (l *List[E]) PushBack(e E) {
	le := e.Links()
	if le.linked {
		panic("ilist: PushBack of a linked element")
	}
	le.next, le.prev, le.owner, le.linked = nil, l.tail, e, true
	if l.tail == nil {
		l.head = le
	} else {
		l.tail.next = le
	}
	l.tail = le
	l.n++
}

// PushFront prepends e (list_add). e must not be on a list through this
// entry.
func (l *List[E]) PushFront(e E) {
	le := e.Links()
	if le.linked {
		panic("ilist: PushFront of a linked element")
	}
	le.next, le.prev, le.owner, le.linked = l.head, nil, e, true
	if l.head == nil {
		l.tail = le
	} else {
		l.head.prev = le
	}
	l.head = le
	l.n++
}

// Remove unlinks e, which must be on l (list_del_init).
func (l *List[E]) Remove(e E) {
	le := e.Links()
	if !le.linked {
		panic("ilist: Remove of an unlinked element")
	}
	l.unlink(le)
}

// unlink takes the linked entry le off l.
func (l *List[E]) unlink(le *Entry[E]) {
	if le.prev == nil {
		l.head = le.next
	} else {
		le.prev.next = le.next
	}
	if le.next == nil {
		l.tail = le.prev
	} else {
		le.next.prev = le.prev
	}
	var zero E
	le.next, le.prev, le.owner, le.linked = nil, nil, zero, false
	l.n--
}

// PopFront removes and returns the first element, or the zero E when l
// is empty.
func (l *List[E]) PopFront() E {
	le := l.head
	if le == nil {
		var zero E
		return zero
	}
	e := le.owner
	l.unlink(le)
	return e
}

// SpliceBack moves every element of from to the back of l, leaving from
// empty (list_splice_tail_init).
func (l *List[E]) SpliceBack(from *List[E]) {
	if from.n == 0 {
		return
	}
	if l.tail == nil {
		l.head = from.head
	} else {
		l.tail.next = from.head
		from.head.prev = l.tail
	}
	l.tail = from.tail
	l.n += from.n
	*from = List[E]{}
}
