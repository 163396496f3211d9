// Package captureproto is the wire protocol of the capture service
// (package image/capture) and its client (`kaidoku capture`): the client
// asks a running image for its frames, and the image streams them back as
// the records of a pcap file, which the client writes after a file header
// of its own. It builds on any GOOS.
//
// Requests are one text datagram each, to the service's UDP port:
//
//	start [type=<EtherType>] [count=<n>] [snaplen=<n>] [iface=<name>|any]
//	keep   (sent every second while the client wants frames)
//	stop
//
// The service answers start with an Ack, then sends Data datagrams and
// ends with an End. A Data datagram's payload is a piece of the record
// stream (each record a 16-byte pcap record header with nanosecond
// timestamps, then the frame): records are packed into datagrams of at
// most MaxPayload bytes, and a record that does not fit is continued in
// the next ones, so that no datagram is ever fragmented. Every datagram
// carries a sequence number and the offset of the first record that
// starts in it, so that after a lost datagram the client drops the
// records it cut and resumes at the next record start.
//
// The service leaves the stream's own frames out of the capture (every
// UDP datagram to or from its port), as `tcpdump not udp port 2002`
// would; without that each datagram sent would be captured and sent again.
package captureproto

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// DefaultPort is the capture service's UDP port in the image, rpcapd's
// port number.
const DefaultPort = 2002

// Datagram kinds.
const (
	KindAck  = 'A' // the start was accepted; payload: "snaplen=N iface=NAME"
	KindData = 'D' // a piece of the record stream
	KindEnd  = 'E' // the capture is over; payload: the Summary as text
	KindErr  = 'X' // the start was refused; payload: why
)

// HeaderLen is a datagram's header: kind, sequence number (uint32) and
// the offset of the first record start (uint16, NoRecordStart if none).
const HeaderLen = 7

// NoRecordStart marks a Data datagram that only continues a record.
const NoRecordStart = 0xffff

// MaxPayload keeps every datagram within one 1500-byte Ethernet frame
// (1472 bytes of UDP payload), so that the stream is never fragmented.
const MaxPayload = 1400 - HeaderLen

// RecordHeaderLen is a pcap record header's size.
const RecordHeaderLen = 16

// File header values: nanosecond-resolution pcap, Ethernet.
const (
	MagicNanos       = 0xa1b23c4d
	LinkTypeEthernet = 1
	DefaultSnaplen   = 65535
)

// KeepInterval is how often the client says it still listens; the
// service ends a capture after KeepTimeout without a word from it.
const (
	KeepInterval = time.Second
	KeepTimeout  = 5 * time.Second
)

// Request is a start request's parameters.
type Request struct {
	// EtherType limits the capture to one protocol (host order); 0:
	// every frame.
	EtherType uint16
	// Count ends the capture after this many frames; 0: no limit.
	Count int
	// Snaplen is the most bytes kept of a frame (0: DefaultSnaplen).
	Snaplen int
	// Iface is the interface ("eth0", "lo"), "any", or empty for the
	// image's Ethernet interface.
	Iface string
}

// String returns the start datagram.
func (r Request) String() string {
	s := "start"
	if r.EtherType != 0 {
		s += fmt.Sprintf(" type=0x%04x", r.EtherType)
	}
	if r.Count > 0 {
		s += fmt.Sprintf(" count=%d", r.Count)
	}
	if r.Snaplen > 0 {
		s += fmt.Sprintf(" snaplen=%d", r.Snaplen)
	}
	if r.Iface != "" {
		s += " iface=" + r.Iface
	}
	return s
}

// ParseRequest parses a start datagram.
func ParseRequest(s string) (Request, error) {
	var r Request
	f := strings.Fields(s)
	if len(f) == 0 || f[0] != "start" {
		return r, errors.New("not a start request")
	}
	for _, w := range f[1:] {
		k, v, ok := strings.Cut(w, "=")
		if !ok {
			return r, fmt.Errorf("bad word %q", w)
		}
		switch k {
		case "type":
			t, err := ParseEtherType(v)
			if err != nil {
				return r, err
			}
			r.EtherType = t
		case "count", "snaplen":
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				return r, fmt.Errorf("bad %s %q", k, v)
			}
			if k == "count" {
				r.Count = n
			} else {
				r.Snaplen = n
			}
		case "iface":
			r.Iface = v
		default:
			return r, fmt.Errorf("unknown word %q", w)
		}
	}
	if r.Snaplen == 0 || r.Snaplen > DefaultSnaplen {
		r.Snaplen = DefaultSnaplen
	}
	return r, nil
}

// etherTypes are the names ParseEtherType knows, tcpdump's.
var etherTypes = map[string]uint16{"ip": 0x0800, "arp": 0x0806, "ip6": 0x86dd, "vlan": 0x8100}

// ParseEtherType reads an EtherType: a number (0x0800, 2048) or one of
// ip, arp, ip6, vlan.
func ParseEtherType(s string) (uint16, error) {
	if t, ok := etherTypes[strings.ToLower(s)]; ok {
		return t, nil
	}
	n, err := strconv.ParseUint(s, 0, 16)
	if err != nil || n < 0x0600 {
		return 0, fmt.Errorf("bad EtherType %q: want a number from 0x0600 to 0xffff, or ip, arp, ip6, vlan", s)
	}
	return uint16(n), nil
}

// Header is a datagram's header.
type Header struct {
	Kind        byte
	Seq         uint32
	FirstRecord uint16
}

// Put writes h into b[:HeaderLen].
func (h Header) Put(b []byte) {
	b[0] = h.Kind
	binary.BigEndian.PutUint32(b[1:], h.Seq)
	binary.BigEndian.PutUint16(b[5:], h.FirstRecord)
}

// ParseHeader splits a datagram into its header and payload.
func ParseHeader(b []byte) (Header, []byte, error) {
	if len(b) < HeaderLen {
		return Header{}, nil, fmt.Errorf("capture datagram of %d bytes", len(b))
	}
	h := Header{Kind: b[0], Seq: binary.BigEndian.Uint32(b[1:]), FirstRecord: binary.BigEndian.Uint16(b[5:])}
	return h, b[HeaderLen:], nil
}

// FileHeader returns a pcap file header (nanosecond magic, Ethernet).
func FileHeader(snaplen int) []byte {
	h := make([]byte, 24)
	binary.LittleEndian.PutUint32(h[0:], MagicNanos)
	binary.LittleEndian.PutUint16(h[4:], 2)
	binary.LittleEndian.PutUint16(h[6:], 4)
	binary.LittleEndian.PutUint32(h[16:], uint32(snaplen))
	binary.LittleEndian.PutUint32(h[20:], LinkTypeEthernet)
	return h
}

// AppendRecord appends a pcap record: the header (time in ns since the
// epoch, the bytes kept and the frame's length) and the bytes kept.
func AppendRecord(b []byte, unixNano int64, frame []byte, origLen int) []byte {
	var h [RecordHeaderLen]byte
	binary.LittleEndian.PutUint32(h[0:], uint32(unixNano/1e9))
	binary.LittleEndian.PutUint32(h[4:], uint32(unixNano%1e9))
	binary.LittleEndian.PutUint32(h[8:], uint32(len(frame)))
	binary.LittleEndian.PutUint32(h[12:], uint32(origLen))
	return append(append(b, h[:]...), frame...)
}

// Summary is what an End datagram reports.
type Summary struct {
	// Captured is the frames sent as records.
	Captured uint64
	// Dropped is what the packet socket dropped (PACKET_STATISTICS'
	// tp_drops): frames that arrived while its receive buffer was full.
	Dropped uint64
	// SendErrors is the stream datagrams the image failed to send.
	SendErrors uint64
	// Datagrams is the stream datagrams sent, End excluded.
	Datagrams uint32
}

// String encodes s.
func (s Summary) String() string {
	return fmt.Sprintf("captured=%d dropped=%d send_errors=%d datagrams=%d", s.Captured, s.Dropped, s.SendErrors, s.Datagrams)
}

// ParseSummary decodes an End payload.
func ParseSummary(p string) (Summary, error) {
	var s Summary
	_, err := fmt.Sscanf(p, "captured=%d dropped=%d send_errors=%d datagrams=%d", &s.Captured, &s.Dropped, &s.SendErrors, &s.Datagrams)
	return s, err
}

// Reassembler turns Data datagrams back into whole records, dropping
// the records a lost datagram cut.
type Reassembler struct {
	next    uint32
	started bool
	sync    bool // inside a record whose start was seen
	partial []byte
	// Lost counts datagrams that never arrived (gaps in the sequence);
	// Cut counts records dropped because of them.
	Lost, Cut uint64
}

// Add takes one Data datagram and returns the records it completes,
// each a pcap record (header and data).
func (r *Reassembler) Add(h Header, payload []byte) [][]byte {
	if r.started && h.Seq != r.next {
		if h.Seq < r.next {
			return nil // a duplicate or reordered old datagram
		}
		r.Lost += uint64(h.Seq - r.next)
		if len(r.partial) > 0 {
			r.Cut++
		}
		r.partial = r.partial[:0]
		r.sync = false
	}
	if !r.started {
		r.Lost += uint64(h.Seq)
		r.sync = h.Seq == 0
	}
	r.started = true
	r.next = h.Seq + 1
	if !r.sync {
		if h.FirstRecord == NoRecordStart || int(h.FirstRecord) > len(payload) {
			return nil
		}
		payload = payload[h.FirstRecord:]
		r.sync = true
	}
	r.partial = append(r.partial, payload...)
	var out [][]byte
	for len(r.partial) >= RecordHeaderLen {
		n := RecordHeaderLen + int(binary.LittleEndian.Uint32(r.partial[8:]))
		if len(r.partial) < n {
			break
		}
		out = append(out, append([]byte(nil), r.partial[:n]...))
		r.partial = r.partial[n:]
	}
	r.partial = append([]byte(nil), r.partial...)
	return out
}

// Finish accounts for the datagrams after the last one received, given
// the total the End datagram reports, and drops a record left unfinished.
func (r *Reassembler) Finish(total uint32) {
	if total > r.next {
		r.Lost += uint64(total - r.next)
		r.next = total
	}
	if len(r.partial) > 0 {
		r.Cut++
		r.partial = nil
	}
}

// Packer packs records into datagram payloads for the service.
type Packer struct {
	buf   []byte
	first int // offset of the first record start in buf, -1 none
	seq   uint32
}

// NewPacker returns an empty packer.
func NewPacker() *Packer {
	return &Packer{buf: make([]byte, HeaderLen, HeaderLen+MaxPayload), first: -1}
}

// Add appends record; send is called with each datagram it fills.
func (p *Packer) Add(record []byte, send func([]byte)) {
	for i := 0; len(record) > 0; i++ {
		if i == 0 && p.first < 0 {
			p.first = len(p.buf) - HeaderLen
		}
		n := min(len(record), HeaderLen+MaxPayload-len(p.buf))
		p.buf = append(p.buf, record[:n]...)
		record = record[n:]
		if len(p.buf) == HeaderLen+MaxPayload {
			p.Flush(send)
		}
	}
}

// Flush sends what is buffered, if anything.
func (p *Packer) Flush(send func([]byte)) {
	if len(p.buf) == HeaderLen {
		return
	}
	first := uint16(NoRecordStart)
	if p.first >= 0 {
		first = uint16(p.first)
	}
	Header{Kind: KindData, Seq: p.seq, FirstRecord: first}.Put(p.buf)
	send(p.buf)
	p.seq++
	p.buf = p.buf[:HeaderLen]
	p.first = -1
}

// Seq returns the number of Data datagrams sent so far.
func (p *Packer) Seq() uint32 { return p.seq }
