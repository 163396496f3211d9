//go:build linux

package main

import (
	"strings"
	"testing"
)

func TestParseCmdlineExec(t *testing.T) {
	c, err := parseCmdline("console=ttyS0 kaidoku.exec=dns kaidoku.exec.port=53")
	if err != nil || c.exec != "dns" || c.execPort != 53 {
		t.Errorf("exec words: %+v, %v", c, err)
	}
	if c, _ := parseCmdline("console=ttyS0"); c.exec != "" || c.execPort != 0 {
		t.Errorf("defaults: exec %q port %d", c.exec, c.execPort)
	}
	for _, bad := range []string{"kaidoku.exec.port=0", "kaidoku.exec.port=65536", "kaidoku.exec.port=dns"} {
		if _, err := parseCmdline(bad); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}

// /proc/net/udp as Linux 6.1 prints it: 0.0.0.0:53 (0035) and
// 127.0.0.1:11111 (2B67) bound; udp6 with [::]:7.
func TestUDPTableHasPort(t *testing.T) {
	udp := `   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops
  102: 00000000:0035 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 13351 2 ffff8880047bb180 0
  231: 0100007F:2B67 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 13352 2 ffff8880047bb500 0
`
	udp6 := `  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops
   7: 00000000000000000000000000000000:0007 00000000000000000000000000000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 13353 2 ffff888004d6e000 0
`
	for _, tc := range []struct {
		table string
		port  int
		want  bool
	}{
		{udp, 53, true},
		{udp, 11111, true},
		{udp, 7, false},
		{udp, 0, false},
		{udp6, 7, true},
		{udp6, 53, false},
		{"", 53, false},
		{"header only\n", 53, false},
	} {
		if got := udpTableHasPort(strings.NewReader(tc.table), tc.port); got != tc.want {
			t.Errorf("port %d in %.20q: %v, want %v", tc.port, tc.table, got, tc.want)
		}
	}
}
