package ether

import (
	"encoding/binary"
	"io"
	"sync"
)

// PcapWriter writes frames in the classic libpcap format (magic
// 0xa1b2c3d4, microsecond timestamps, LINKTYPE_ETHERNET), which tcpdump
// and Wireshark read. Its Tap method is a Tap. It is safe for concurrent
// use and does not allocate per frame.
type PcapWriter struct {
	mu      sync.Mutex
	w       io.Writer    // +checklocksignore: fixed at NewPcapWriter
	now     func() int64 // +checklocksignore: fixed at NewPcapWriter
	snaplen int          // +checklocksignore: fixed at NewPcapWriter
	// +checklocks:mu
	hdr [16]byte
	// +checklocks:mu
	err error
	// +checklocks:mu
	frames uint64 // records written
}

// NewPcapWriter writes the file header to w and returns a writer whose
// records are stamped with now() (ns; add a wall-clock offset in now for
// absolute times). snaplen ≤ 0 means 65535.
func NewPcapWriter(w io.Writer, now func() int64, snaplen int) (*PcapWriter, error) {
	if snaplen <= 0 {
		snaplen = 65535
	}
	var h [24]byte
	binary.LittleEndian.PutUint32(h[0:], 0xa1b2c3d4)
	binary.LittleEndian.PutUint16(h[4:], 2)
	binary.LittleEndian.PutUint16(h[6:], 4)
	binary.LittleEndian.PutUint32(h[16:], uint32(snaplen))
	binary.LittleEndian.PutUint32(h[20:], 1) // LINKTYPE_ETHERNET
	if _, err := w.Write(h[:]); err != nil {
		return nil, err
	}
	return &PcapWriter{w: w, now: now, snaplen: snaplen}, nil
}

// Tap records one frame; it satisfies Tap. Write errors are kept (Err)
// and stop further records.
func (p *PcapWriter) Tap(frame []byte, tx bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err != nil {
		return
	}
	t := p.now()
	incl := len(frame)
	if incl > p.snaplen {
		incl = p.snaplen
	}
	binary.LittleEndian.PutUint32(p.hdr[0:], uint32(t/1e9))
	binary.LittleEndian.PutUint32(p.hdr[4:], uint32(t%1e9/1e3))
	binary.LittleEndian.PutUint32(p.hdr[8:], uint32(incl))
	binary.LittleEndian.PutUint32(p.hdr[12:], uint32(len(frame)))
	if _, err := p.w.Write(p.hdr[:]); err != nil {
		p.err = err
		return
	}
	if _, err := p.w.Write(frame[:incl]); err != nil {
		p.err = err
		return
	}
	p.frames++
}

// Err returns the first write error.
func (p *PcapWriter) Err() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

// Frames returns the number of records written.
func (p *PcapWriter) Frames() uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.frames
}
