package e2e

import (
	"context"
	"net"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kaidoku-net/kaidoku/qemu"
)

// image/dns answers Debian's dig through the user-mode forward: A, AAAA,
// TXT and NXDOMAIN; TC for a TXT set over 512 bytes without EDNS0, and
// the same set whole with EDNS0 and a 4096-byte buffer (over the MTU, so
// fragmented by the image's stack on the way out); a malformed query gets
// FORMERR or nothing, and the server keeps serving.
func TestDNSDig(t *testing.T) {
	dig := lookClient(t, "dig", "bind9-dnsutils")
	img := buildProgram(t, "./image/dns")
	port := freeUDPPort(t)
	vm := bootProgram(t, img, qemu.Config{Net: qemu.UserNet{Forwards: []qemu.Forward{{HostPort: port, GuestPort: 53}}}})
	if !strings.Contains(vm.Console.Text(), "dns: authoritative for kaidoku.test.") {
		t.Error("console lacks the serving line")
	}
	run := func(args ...string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		args = append([]string{"@127.0.0.1", "-p", strconv.Itoa(port), "+time=5", "+tries=2"}, args...)
		out, err := exec.CommandContext(ctx, dig, args...).CombinedOutput()
		if err != nil {
			t.Errorf("dig %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"+short", "www.kaidoku.test", "A"}, "192.0.2.10\n"},
		{[]string{"+short", "www.kaidoku.test", "AAAA"}, "2001:db8::10\n"},
		{[]string{"+short", "txt.kaidoku.test", "TXT"}, "\"hello from kaidoku\"\n"},
		{[]string{"+short", "alias.kaidoku.test", "A"}, "www.kaidoku.test.\n192.0.2.10\n"},
	} {
		if got := run(tc.args...); got != tc.want {
			t.Errorf("dig %s: %q, want %q", strings.Join(tc.args, " "), got, tc.want)
		}
	}
	status := regexp.MustCompile(`status: (\w+)`)
	flags := regexp.MustCompile(`;; flags: ([a-z ]+);`)
	size := regexp.MustCompile(`MSG SIZE\s+rcvd: (\d+)`)
	answers := regexp.MustCompile(`ANSWER: (\d+)`)

	out := run("nope.kaidoku.test", "A")
	if m := status.FindStringSubmatch(out); m == nil || m[1] != "NXDOMAIN" {
		t.Errorf("nope.kaidoku.test: want NXDOMAIN\n%s", out)
	}
	if !strings.Contains(out, "kaidoku.test.\t\t300\tIN\tSOA") {
		t.Errorf("NXDOMAIN without the SOA in authority\n%s", out)
	}

	// +ignore: dig must not retry over TCP, which the image does not serve.
	out = run("+noedns", "+ignore", "big.kaidoku.test", "TXT")
	if m := flags.FindStringSubmatch(out); m == nil || !strings.Contains(" "+m[1]+" ", " tc ") {
		t.Errorf("big TXT without EDNS0: want TC set\n%s", out)
	}
	if m := size.FindStringSubmatch(out); m == nil || atoi(m[1]) > 512 {
		t.Errorf("big TXT without EDNS0: want at most 512 bytes\n%s", out)
	}

	out = run("+bufsize=4096", "+ignore", "big.kaidoku.test", "TXT")
	if m := flags.FindStringSubmatch(out); m == nil || strings.Contains(" "+m[1]+" ", " tc ") {
		t.Errorf("big TXT with EDNS0 4096: want no TC\n%s", out)
	}
	if m := answers.FindStringSubmatch(out); m == nil || m[1] != "16" {
		t.Errorf("big TXT with EDNS0 4096: want the 16 records\n%s", out)
	}
	if m := size.FindStringSubmatch(out); m == nil || atoi(m[1]) <= 1472 {
		t.Errorf("big TXT with EDNS0 4096: want a reply over one 1500-byte frame's UDP payload\n%s", out)
	} else {
		t.Logf("EDNS0 reply of %s bytes, fragmented by the image", m[1])
	}

	// Malformed queries: a header whose question is cut short, and
	// garbage after a header. Each gets FORMERR with its ID, or nothing.
	c, err := net.DialUDP("udp4", nil, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, q := range [][]byte{
		{0xbe, 0xef, 0x01, 0x00, 0x00, 0x01, 0, 0, 0, 0, 0, 0, 3, 'w', 'w'},
		{0xca, 0xfe, 0x01, 0x00, 0x00, 0x01, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff},
	} {
		c.Write(q)
		c.SetReadDeadline(time.Now().Add(3 * time.Second))
		buf := make([]byte, 512)
		n, err := c.Read(buf)
		switch {
		case err != nil:
			t.Logf("malformed query % x: no reply (%v)", q, err)
		case n < 12 || buf[0] != q[0] || buf[1] != q[1] || buf[2]&0x80 == 0 || buf[3]&0x0f != 1:
			t.Errorf("malformed query % x: reply % x, want FORMERR with its ID", q, buf[:n])
		}
	}
	if got := run("+short", "www.kaidoku.test", "A"); got != "192.0.2.10\n" {
		t.Errorf("after the malformed queries: %q, want the server still answering", got)
	}
}

func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}
