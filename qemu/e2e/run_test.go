package e2e

import (
	"bufio"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// `kaidoku run` (what `make run` starts) prints READY within 5 s of wall
// time under TCG, and SIGINT leaves no QEMU behind. Its -append words
// reach the image, which reports the unknown kaidoku one before READY.
func TestRunCommandReadyAndInterrupt(t *testing.T) {
	bin, _ := kaidokuCmd(t)
	cmd := exec.Command(bin, "run", "-lifetime", "2m", "-fwd", "0:7", "-append", "console=ttyS0 panic=-1 kaidoku.run.bogus", image)
	cmd.Stdout = nil
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout = cmd.Stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })

	pidRe := regexp.MustCompile(`QEMU pid (\d+)`)
	qemuPID := 0
	reported := false
	ready := make(chan time.Duration, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if m := pidRe.FindStringSubmatch(sc.Text()); m != nil {
				qemuPID, _ = strconv.Atoi(m[1])
			}
			if strings.Contains(sc.Text(), `Unknown kernel command line parameters "kaidoku.run.bogus"`) {
				reported = true
			}
			if regexp.MustCompile(`\bREADY\b`).MatchString(sc.Text()) {
				ready <- time.Since(start)
			}
		}
	}()
	select {
	case d := <-ready:
		t.Logf("READY after %v of wall time", d)
		if d > 5*time.Second {
			t.Errorf("READY after %v, want within 5 s", d)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("no READY")
	}
	if qemuPID == 0 {
		t.Fatal("launcher did not report QEMU's pid")
	}
	if !reported {
		t.Error("the -append words did not reach the image: no report of kaidoku.run.bogus before READY")
	}
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("kaidoku run after SIGINT: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("kaidoku run did not stop on SIGINT")
	}
	deadline := time.Now().Add(5 * time.Second)
	for !processGone(qemuPID) {
		if time.Now().After(deadline) {
			syscall.Kill(qemuPID, syscall.SIGKILL)
			t.Fatalf("QEMU pid %d still running after SIGINT", qemuPID)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
