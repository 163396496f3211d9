package ipv4

import (
	"testing"

	"github.com/kaidoku-net/kaidoku/netstack/skb"
)

// FuzzIPOptions runs __ip_options_compile on arbitrary option bytes: it
// must not panic, and a reported pointer must lie inside the options.
func FuzzIPOptions(f *testing.F) {
	ip, _ := testIP(nil)
	f.Add([]byte{1, 1, 1, 1})
	f.Add([]byte{7, 7, 4, 0, 0, 0, 0, 0})
	f.Add([]byte{68, 12, 5, 1, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Add([]byte{131, 7, 4, 1, 2, 3, 4, 0})
	f.Add([]byte{134, 8, 0, 0, 0, 1, 0, 0})
	f.Fuzz(func(t *testing.T, opts []byte) {
		if len(opts) > 40 {
			opts = opts[:40]
		}
		h := make([]byte, 20+len(opts))
		copy(h[20:], opts)
		opt := skb.IPOptions{Optlen: uint8(len(opts))}
		var b skb.Buffer
		b.Rt = skb.Route{Type: RtnLocal, Flags: RtcfLocal, Valid: true}
		info, bad := ip.ipOptionsCompile(h, &opt, nil)
		if bad {
			p := int(info >> 24)
			if p < 20 || p >= 20+len(opts) {
				t.Fatalf("pointer %d outside options of %d bytes", p, len(opts))
			}
		}
	})
}
