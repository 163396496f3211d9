package unikernel

import (
	"slices"
	"testing"
)

func TestInitArgs(t *testing.T) {
	for _, tc := range []struct {
		line string
		want []string
	}{
		{"", nil},
		{"console=ttyS0 kaidoku.addr=10.0.2.15/24", nil},
		{"console=ttyS0 --", nil},
		{"console=ttyS0 -- -port 53", []string{"-port", "53"}},
		{"kaidoku.x=1 --   a\tb  ", []string{"a", "b"}},
		{`kaidoku.x="a -- b" -- c`, []string{"c"}},
		{`-- -name="a b" "c d"`, []string{"-name=a b", "c d"}},
		{"--x -- y", []string{"y"}},
		{"-- -v virtio_mmio.device=512@0xfeb00e00:12", []string{"-v"}},
		{"a--b -- --", nil}, // a second "--" ends the words too, as cmdline.Split
	} {
		if got := initArgs(tc.line); !slices.Equal(got, tc.want) {
			t.Errorf("initArgs(%q) = %q, want %q", tc.line, got, tc.want)
		}
	}
}
