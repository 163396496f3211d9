package e2e

import (
	"bufio"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kaidoku-net/kaidoku/qemu"
)

// kaidokuCmd builds the kaidoku command and returns its path and the
// module root, the directory it runs in.
func kaidokuCmd(t *testing.T) (bin, root string) {
	t.Helper()
	root, err := qemu.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	bin = filepath.Join(t.TempDir(), "kaidoku")
	if out, err := exec.Command("go", "build", "-o", bin, filepath.Join(root, "qemu", "cmd", "kaidoku")).CombinedOutput(); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	return bin, root
}

// kaidoku build refuses what is not a program on the runtime and says
// what to do; it builds one that is, into -o, with -cmdline's words built
// in, as an image that boots.
func TestKaidokuBuild(t *testing.T) {
	bin, root := kaidokuCmd(t)
	out := filepath.Join(t.TempDir(), "rtprog.elf")
	for _, tc := range []struct {
		args []string
		want string // in the error; "" for success
	}{
		{[]string{"build", "./image/stats"}, "is package stats, not a program"},
		{[]string{"build", "./qemu/e2e/testdata/noruntime"}, "never imports github.com/kaidoku-net/kaidoku/unikernel"},
		{[]string{"build", "./image/linuxecho"}, "no Go file for GOOS=tamago"},
		{[]string{"build"}, "build takes one package"},
		{[]string{"build", "-o", out, "-cmdline", "kaidoku.addr=10.0.2.16/24", "./qemu/e2e/testdata/rtprog"}, ""},
	} {
		cmd := exec.Command(bin, tc.args...)
		cmd.Dir = root
		b, err := cmd.CombinedOutput()
		if tc.want == "" {
			if err != nil {
				t.Errorf("kaidoku %s: %v\n%s", strings.Join(tc.args, " "), err, b)
			}
			continue
		}
		if err == nil || !strings.Contains(string(b), tc.want) {
			t.Errorf("kaidoku %s: %v, output %q; want a failure saying %q", strings.Join(tc.args, " "), err, b, tc.want)
		}
	}
	vm := bootProgram(t, out, qemu.Config{Net: qemu.UserNet{}, Append: []string{"--", "exit", "5"}})
	<-vm.Done()
	if !strings.Contains(vm.Console.Text(), "rtprog: 10.0.2.16/24 via 10.0.2.2") {
		t.Errorf("the words built in with -cmdline did not apply:\n%s", vm.Console.Text())
	}
	if code, err := vm.Wait(); code != 5 {
		t.Errorf("the built image exited with %d, %v; want 5", code, err)
	}
}

// kaidoku run given a package builds and boots it with the -fwd forwards
// and the program's arguments after -- in -append; it refuses a host
// port in use before it builds anything; it exits with the guest's
// status.
func TestKaidokuRunPackage(t *testing.T) {
	bin, root := kaidokuCmd(t)

	busy, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	cmd := exec.Command(bin, "run", "-fwd", strconv.Itoa(busy.LocalAddr().(*net.UDPAddr).Port)+":7", "./qemu/e2e/testdata/rtprog")
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(b), "already in use on the host") {
		t.Errorf("run with a host port in use: %v, output %q; want a failure saying the port is in use", err, b)
	}

	cmd = exec.Command(bin, "run", "-lifetime", "1m", "-fwd", "", "-append", "-- exit 4", "./qemu/e2e/testdata/rtprog")
	cmd.Dir = root
	b, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 || !strings.Contains(string(b), "guest exited with code 4") {
		t.Errorf("run of a program that exits 4: %v, output:\n%s", err, b)
	}

	port := freeUDPPort(t)
	cmd = exec.Command(bin, "run", "-lifetime", "2m", "-fwd", strconv.Itoa(port)+":7", "-append", "-- echo", "./qemu/e2e/testdata/rtprog")
	cmd.Dir = root
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			// The console's line, not the launcher's "boot to READY".
			if sc.Text() == "READY" {
				close(ready)
			}
		}
	}()
	select {
	case <-ready:
	case <-time.After(3 * time.Minute):
		cmd.Process.Kill()
		t.Fatalf("no READY from kaidoku run of a package")
	}
	c, err := net.DialUDP("udp4", nil, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte("via kaidoku run"))
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 64)
	if n, err := c.Read(buf); err != nil || string(buf[:n]) != "via kaidoku run" {
		t.Errorf("echo through the forward: %q, %v", buf[:n], err)
	}
	cmd.Process.Signal(syscall.SIGINT)
	if err := cmd.Wait(); err != nil {
		t.Errorf("kaidoku run after SIGINT: %v", err)
	}
}
