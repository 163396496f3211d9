package skb

// Queue is a FIFO of buffers linked through Buffer.Next (struct
// sk_buff_head without its lock: the owner serialises access). Its zero
// value is an empty queue.
type Queue struct {
	head, tail *Buffer
	n          int
}

// Len returns the number of buffers queued.
func (q *Queue) Len() int { return q.n }

// Empty reports whether the queue holds nothing.
func (q *Queue) Empty() bool { return q.n == 0 }

// Peek returns the first buffer without removing it.
func (q *Queue) Peek() *Buffer { return q.head }

// PushBack appends b (__skb_queue_tail).
func (q *Queue) PushBack(b *Buffer) {
	b.Next = nil
	if q.tail == nil {
		q.head = b
	} else {
		q.tail.Next = b
	}
	q.tail = b
	q.n++
}

// PopFront removes and returns the first buffer, or nil (__skb_dequeue).
func (q *Queue) PopFront() *Buffer {
	b := q.head
	if b == nil {
		return nil
	}
	q.head = b.Next
	if q.head == nil {
		q.tail = nil
	}
	b.Next = nil
	q.n--
	return b
}

// Unlink removes b, which must be in q (__skb_unlink). It walks the list:
// queues are short and this is not on the fast path.
func (q *Queue) Unlink(b *Buffer) bool {
	var prev *Buffer
	for cur := q.head; cur != nil; prev, cur = cur, cur.Next {
		if cur != b {
			continue
		}
		if prev == nil {
			q.head = cur.Next
		} else {
			prev.Next = cur.Next
		}
		if q.tail == cur {
			q.tail = prev
		}
		cur.Next = nil
		q.n--
		return true
	}
	return false
}

// SpliceTailInit moves every buffer of from to the tail of q, leaving from
// empty (skb_queue_splice_tail_init).
func (q *Queue) SpliceTailInit(from *Queue) {
	if from.n == 0 {
		return
	}
	if q.tail == nil {
		q.head = from.head
	} else {
		q.tail.Next = from.head
	}
	q.tail = from.tail
	q.n += from.n
	*from = Queue{}
}

// Purge frees every queued buffer (__skb_queue_purge) and returns how many.
func (q *Queue) Purge() int {
	n := 0
	for b := q.PopFront(); b != nil; b = q.PopFront() {
		b.Free()
		n++
	}
	return n
}

// Each calls f for every buffer in order until f returns false.
func (q *Queue) Each(f func(*Buffer) bool) {
	for b := q.head; b != nil; b = b.Next {
		if !f(b) {
			return
		}
	}
}
