package e2e

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/kaidoku-net/kaidoku/image/agent/agentproto"
	"github.com/kaidoku-net/kaidoku/qemu"
	"github.com/kaidoku-net/kaidoku/qemu/linuxguest"
)

// The Linux guest peer of the benchmarks (package qemu/linuxguest: Debian's
// kernel with the image/linuxecho initramfs) boots through the same
// launcher as the kaidoku image, prints READY, echoes UDP datagrams of
// several sizes on port 7 (one over the MTU, so the guest reassembles and
// fragments), and reports its memory in use and /proc/net/snmp on port
// 161, whose counters agree with the traffic sent; its test agent (udp/5555)
// refuses, and counts, a host it does not allow.
func TestLinuxGuestEcho(t *testing.T) {
	if _, err := linuxguest.FindKernel(); err != nil {
		if errors.Is(err, linuxguest.ErrNoKernel) {
			t.Skip("Linux guest peer not tested:", err)
		}
		t.Fatal(err)
	}
	// A persistent work directory: Prepare caches the unpacked kernel and
	// the initramfs there by content, so only the first run builds them.
	start := time.Now()
	g, err := linuxguest.Prepare(linuxguest.DefaultWorkdir())
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(g.Initrd)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("prepared in %v: kernel %s (%s), initramfs %s (%d bytes), modules %v",
		time.Since(start).Round(time.Millisecond), g.Release, g.Kernel, g.Initrd, st.Size(), g.Modules)
	if g.Note != "" {
		t.Logf("note: %s", g.Note)
	}

	ports := linuxFreeUDPPorts(t, 3)
	echoPort, statsPort, agentHostPort := ports[0], ports[1], ports[2]
	cfg := g.Config(qemu.Config{
		Net: qemu.UserNet{Forwards: []qemu.Forward{
			{HostPort: echoPort, GuestPort: linuxguest.EchoPort},
			{HostPort: statsPort, GuestPort: linuxguest.StatsPort},
			{HostPort: agentHostPort, GuestPort: agentPort},
		}},
		// The host's datagrams arrive from the user-mode network's
		// gateway, 10.0.2.2, which the agent answers by default: here
		// it answers someone else, so they must be refused and counted.
		Append:   []string{"kaidoku.agent.allow=10.0.2.77/32"},
		Lifetime: 4 * time.Minute,
	})
	vm, d := startVM(t, cfg, 2*time.Minute)
	t.Logf("accelerator %s (%s); boot to READY %v; command line %q",
		vm.Accel, vm.Why, d.Round(time.Millisecond), cfg.Append)

	echo := linuxDial(t, echoPort)
	sizes := []int{1, 64, 512, 1472, 4000}
	for i, n := range sizes {
		msg := make([]byte, n)
		for j := range msg {
			msg[j] = byte('a' + (i+j)%26)
		}
		copy(msg, strconv.Itoa(i))
		if _, err := linuxExchange(echo, msg, func(b []byte) bool { return bytes.Equal(b, msg) }); err != nil {
			t.Fatalf("echo of %d bytes: %v\nconsole:\n%s", n, err, vm.Console.Text())
		}
	}

	// The test agent answers only its test host.
	ag := linuxDial(t, agentHostPort)
	req, _ := agentproto.EncodeRequest(&agentproto.Request{ID: 1, Op: agentproto.OpSocket})
	ag.Write(req)
	ag.SetReadDeadline(time.Now().Add(time.Second))
	if n, err := ag.Read(make([]byte, 2048)); err == nil {
		t.Errorf("the agent answered a host it does not allow (%d bytes)", n)
	}

	stats := linuxDial(t, statsPort)
	reply, err := linuxExchange(stats, []byte("stats"), func(b []byte) bool {
		return bytes.Contains(b, []byte("mem_in_use_bytes"))
	})
	if err != nil {
		t.Fatalf("stats: %v\nconsole:\n%s", err, vm.Console.Text())
	}
	kv := linuxguest.ParseStats(reply)
	mem, err := strconv.ParseUint(kv["mem_in_use_bytes"], 10, 64)
	if err != nil || mem == 0 || mem >= 4<<30 {
		t.Errorf("mem_in_use_bytes %q: want a positive number below the guest's 4 GiB", kv["mem_in_use_bytes"])
	}
	if n, _ := strconv.Atoi(kv["echo_datagrams"]); n < len(sizes) {
		t.Errorf("echo_datagrams %q, want at least %d", kv["echo_datagrams"], len(sizes))
	}
	// The echoes and this request went through the kernel's UDP
	// receive path; its MIB must have counted them.
	if n, _ := strconv.Atoi(kv["Udp.InDatagrams"]); n < len(sizes)+1 {
		t.Errorf("/proc/net/snmp Udp InDatagrams %q, want at least %d\n%s", kv["Udp.InDatagrams"], len(sizes)+1, reply)
	}
	if n, _ := strconv.Atoi(kv["Ip.ReasmOKs"]); n < 1 {
		t.Errorf("/proc/net/snmp Ip ReasmOKs %q, want at least 1 (the 4000-byte datagram)", kv["Ip.ReasmOKs"])
	}
	if kv["agent_refused"] != "1" || kv["agent_served"] != "0" {
		t.Errorf("agent_refused %q agent_served %q, want 1 and 0", kv["agent_refused"], kv["agent_served"])
	}
	t.Logf("guest kernel %s: mem_in_use_bytes %d (%.1f MiB); Udp InDatagrams %s OutDatagrams %s",
		kv["kernel"], mem, float64(mem)/(1<<20), kv["Udp.InDatagrams"], kv["Udp.OutDatagrams"])
}

// linuxFreeUDPPorts returns n distinct UDP ports on 127.0.0.1 that were
// free a moment ago, for QEMU's host forwards. All are held open together
// while choosing, so none is handed out twice.
func linuxFreeUDPPorts(t *testing.T, n int) []int {
	t.Helper()
	var ports []int
	for i := 0; i < n; i++ {
		c, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		ports = append(ports, c.LocalAddr().(*net.UDPAddr).Port)
	}
	return ports
}

func linuxDial(t *testing.T, port int) *net.UDPConn {
	t.Helper()
	c, err := net.DialUDP("udp4", nil, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// linuxExchange sends msg and returns the first reply that ok accepts,
// trying three times, 3 s each: bounded, and robust to a datagram lost in
// QEMU's user-mode network and to a late reply to an earlier try.
func linuxExchange(c *net.UDPConn, msg []byte, ok func([]byte) bool) ([]byte, error) {
	buf := make([]byte, 65536)
	var last error
	for try := 0; try < 3; try++ {
		if _, err := c.Write(msg); err != nil {
			return nil, err
		}
		c.SetReadDeadline(time.Now().Add(3 * time.Second))
		for {
			n, err := c.Read(buf)
			if err != nil {
				last = err
				break
			}
			if ok(buf[:n]) {
				return append([]byte(nil), buf[:n]...), nil
			}
			last = fmt.Errorf("unexpected %d-byte reply", n)
		}
	}
	return nil, fmt.Errorf("no good reply in 3 tries: %v", last)
}
