package skb

import "github.com/kaidoku-net/kaidoku/ilist"

// Queue is a FIFO of buffers linked through the buffer's own list entry
// (struct sk_buff_head without its lock: the owner serialises access). A
// buffer is in at most one queue at a time. Its zero value is an empty
// queue.
type Queue struct {
	l ilist.List[*Buffer]
}

// Links returns the buffer's queue entry (skb->next, skb->prev), which
// makes it an ilist element.
func (b *Buffer) Links() *ilist.Entry[*Buffer] { return &b.link }

// Len returns the number of buffers queued.
func (q *Queue) Len() int { return q.l.Len() }

// Empty reports whether the queue holds nothing.
func (q *Queue) Empty() bool { return q.l.Empty() }

// Peek returns the first buffer without removing it, or nil.
func (q *Queue) Peek() *Buffer { return q.l.Front() }

// Next returns the buffer after b in its queue, or nil.
func Next(b *Buffer) *Buffer { return ilist.Next(b) }

// PushBack appends b (__skb_queue_tail). b must not be queued.
func (q *Queue) PushBack(b *Buffer) { q.l.PushBack(b) }

// PopFront removes and returns the first buffer, or nil (__skb_dequeue).
func (q *Queue) PopFront() *Buffer { return q.l.PopFront() }

// Unlink removes b from q (__skb_unlink) and reports whether it was
// queued: b must be in q or in no queue.
func (q *Queue) Unlink(b *Buffer) bool {
	if !b.link.Linked() {
		return false
	}
	q.l.Remove(b)
	return true
}

// SpliceTailInit moves every buffer of from to the tail of q, leaving from
// empty (skb_queue_splice_tail_init).
func (q *Queue) SpliceTailInit(from *Queue) { q.l.SpliceBack(&from.l) }

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
	for b := q.l.Front(); b != nil; b = ilist.Next(b) {
		if !f(b) {
			return
		}
	}
}
