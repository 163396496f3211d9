package capture

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"syscall"
	"testing"
	"time"

	"github.com/kaidoku-net/kaidoku/image/capture/captureproto"
	"github.com/kaidoku-net/kaidoku/netstack"
	"github.com/kaidoku-net/kaidoku/netstack/netstacktest"
	"github.com/kaidoku-net/kaidoku/netstack/skb"
	"github.com/kaidoku-net/kaidoku/netstack/socket"
)

func inject(t *testing.T, st *netstack.Stack, pool *skb.Pool, frame []byte) {
	t.Helper()
	b := pool.Get()
	if b == nil {
		t.Fatal("frame pool empty")
	}
	copy(b.Put(len(frame)), frame)
	st.Receive(b)
}

func udpSocket(t *testing.T, st *netstack.Stack, a [4]byte, port uint16) *socket.Socket {
	t.Helper()
	s, err := st.Socket(syscall.AF_INET, syscall.SOCK_DGRAM, 0)
	if err == nil {
		err = s.Bind(&socket.Sockaddr{Family: syscall.AF_INET, Addr: a, Port: port})
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// A capture of "any" interface sees the frames the stack receives and
// never its own stream, which crosses lo: with the stream's frames
// captured, the count would be reached by them and the loop would never
// end. Records come back whole, with the frames' bytes and lengths.
func TestCaptureStream(t *testing.T) {
	for _, tc := range []struct {
		name    string
		req     string
		frames  []uint16 // EtherTypes injected
		want    []int    // indexes of the frames captured
		snaplen int
	}{
		{"any interface, every frame", "start iface=any count=3", []uint16{0x88b5, 0x88b5, 0x88b5}, []int{0, 1, 2}, 65535},
		{"one EtherType", "start type=0x88b6 count=2", []uint16{0x88b5, 0x88b6, 0x88b5, 0x88b6}, []int{1, 3}, 65535},
		{"snaplen", "start count=1 snaplen=20", []uint16{0x88b5}, []int{0}, 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, pool := netstacktest.New(t, 256)
			svc := New(st, netip.Prefix{})
			conn := udpSocket(t, st, [4]byte{}, captureproto.DefaultPort)
			go svc.Serve(conn)
			cl := udpSocket(t, st, [4]byte{127, 0, 0, 1}, 40000)
			cl.SetsockoptTimeval(socket.SolSocket, socket.SoRcvtimeo, socket.Timeval{Sec: 5})
			dst := &socket.Sockaddr{Family: syscall.AF_INET, Addr: [4]byte{127, 0, 0, 1}, Port: captureproto.DefaultPort}
			if _, err := cl.SendTo([]byte(tc.req), 0, dst); err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, 2048)
			n, err := cl.RecvFrom(buf, 0, nil)
			if err != nil {
				t.Fatal(err)
			}
			if h, _, _ := captureproto.ParseHeader(buf[:n]); h.Kind != captureproto.KindAck {
				t.Fatalf("answer %q", buf[:n])
			}
			var sent [][]byte
			for i, typ := range tc.frames {
				f := make([]byte, 60+i)
				copy(f, []byte{2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 9})
				binary.BigEndian.PutUint16(f[12:], typ)
				f[len(f)-1] = byte(i)
				sent = append(sent, f)
				inject(t, st, pool, f)
			}
			var r captureproto.Reassembler
			var recs [][]byte
			for {
				n, err := cl.RecvFrom(buf, 0, nil)
				if err != nil {
					t.Fatalf("%v after %d records", err, len(recs))
				}
				h, p, _ := captureproto.ParseHeader(buf[:n])
				if h.Kind == captureproto.KindData {
					recs = append(recs, r.Add(h, p)...)
					continue
				}
				if h.Kind != captureproto.KindEnd {
					t.Fatalf("datagram %q", buf[:n])
				}
				s, err := captureproto.ParseSummary(string(p))
				if err != nil || s.Captured != uint64(len(tc.want)) || s.Dropped != 0 {
					t.Errorf("summary %+v %v", s, err)
				}
				break
			}
			if len(recs) != len(tc.want) {
				t.Fatalf("%d records, want %d", len(recs), len(tc.want))
			}
			for i, k := range tc.want {
				rec := recs[i]
				incl, orig := binary.LittleEndian.Uint32(rec[8:]), binary.LittleEndian.Uint32(rec[12:])
				want := sent[k][:min(len(sent[k]), tc.snaplen)]
				if int(orig) != len(sent[k]) || int(incl) != len(want) || !bytes.Equal(rec[16:], want) {
					t.Errorf("record %d: incl %d orig %d %x; want frame %d", i, incl, orig, rec[16:], k)
				}
				if sec := int64(binary.LittleEndian.Uint32(rec)); sec < time.Now().Unix()-60 {
					t.Errorf("record %d stamped %d s since the epoch: not wall-clock time", i, sec)
				}
			}
		})
	}
}

// A bad request is answered with the reason, and nothing is captured.
func TestCaptureRefusals(t *testing.T) {
	st, _ := netstacktest.New(t, 64)
	svc := New(st, netip.MustParsePrefix("127.0.0.1/32"))
	go svc.Serve(udpSocket(t, st, [4]byte{}, captureproto.DefaultPort))
	cl := udpSocket(t, st, [4]byte{127, 0, 0, 1}, 40001)
	cl.SetsockoptTimeval(socket.SolSocket, socket.SoRcvtimeo, socket.Timeval{Sec: 5})
	dst := &socket.Sockaddr{Family: syscall.AF_INET, Addr: [4]byte{127, 0, 0, 1}, Port: captureproto.DefaultPort}
	for _, tc := range []struct{ req, want string }{
		{"start type=zz", "bad EtherType"},
		{"start iface=eth7", "no interface"},
	} {
		cl.SendTo([]byte(tc.req), 0, dst)
		buf := make([]byte, 512)
		n, err := cl.RecvFrom(buf, 0, nil)
		h, p, _ := captureproto.ParseHeader(buf[:n])
		if err != nil || h.Kind != captureproto.KindErr || !bytes.Contains(p, []byte(tc.want)) {
			t.Errorf("%q: %q %v; want a refusal saying %q", tc.req, buf[:n], err, tc.want)
		}
	}
	// From outside allow: dropped and counted.
	other := udpSocket(t, st, [4]byte{10, 0, 2, 15}, 40002)
	other.SendTo([]byte("start"), 0, &socket.Sockaddr{Family: syscall.AF_INET, Addr: [4]byte{10, 0, 2, 15}, Port: captureproto.DefaultPort})
	for i := 0; i < 100 && svc.Refused() == 0; i++ {
		time.Sleep(10 * time.Millisecond)
	}
	if svc.Refused() != 1 || svc.Malformed() != 1 {
		t.Errorf("refused %d malformed %d; want 1 and 1", svc.Refused(), svc.Malformed())
	}
}
