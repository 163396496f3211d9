package qemu

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"
)

// Monitor is a client of QEMU's human monitor (HMP) on the unix socket of
// Config.Monitor: device faults for tests (set_link) and any other
// command. Calls are serialised.
type Monitor struct {
	conn net.Conn
	r    *bufio.Reader
	mu   sync.Mutex
	// Timeout bounds each command (10 s).
	// +checklocks:mu
	Timeout time.Duration
	// Banner is what QEMU printed on connecting.
	Banner string
}

// hmpPrompt ends every HMP reply.
const hmpPrompt = "(qemu) "

// ErrNoMonitor is returned by VM.Monitor for a VM started without
// Config.Monitor.
var ErrNoMonitor = errors.New("qemu: the VM has no monitor socket (Config.Monitor)")

// DialMonitor connects to the HMP socket at path, waiting up to timeout
// for QEMU to create it, and reads the banner up to the first prompt.
func DialMonitor(path string, timeout time.Duration) (*Monitor, error) {
	deadline := time.Now().Add(timeout)
	var conn net.Conn
	var err error
	for {
		conn, err = net.DialTimeout("unix", path, time.Second)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("qemu: monitor %s: %w", path, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	m := &Monitor{conn: conn, r: bufio.NewReader(conn), Timeout: 10 * time.Second}
	conn.SetReadDeadline(time.Now().Add(max(time.Until(deadline), time.Second)))
	banner, err := m.readPrompt()
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("qemu: monitor %s: no prompt: %w", path, err)
	}
	m.Banner = strings.TrimSpace(banner)
	return m, nil
}

// Monitor connects to the VM's monitor socket.
func (vm *VM) Monitor() (*Monitor, error) {
	if vm.Config.Monitor == "" {
		return nil, ErrNoMonitor
	}
	return DialMonitor(vm.Config.Monitor, 10*time.Second)
}

// readPrompt reads up to and including the next prompt and returns what
// came before it.
func (m *Monitor) readPrompt() (string, error) {
	var buf bytes.Buffer
	for {
		b, err := m.r.ReadByte()
		if err != nil {
			return buf.String(), err
		}
		buf.WriteByte(b)
		if bytes.HasSuffix(buf.Bytes(), []byte(hmpPrompt)) {
			buf.Truncate(buf.Len() - len(hmpPrompt))
			return buf.String(), nil
		}
	}
}

// Command runs one HMP command and returns its output, without the echo
// of the command line, terminal control sequences and the prompt.
func (m *Monitor) Command(cmd string) (string, error) {
	if strings.ContainsAny(cmd, "\r\n") {
		return "", fmt.Errorf("qemu: monitor command %q spans lines", cmd)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.conn.SetDeadline(time.Now().Add(m.Timeout))
	if _, err := m.conn.Write([]byte(cmd + "\n")); err != nil {
		return "", fmt.Errorf("qemu: monitor %q: %w", cmd, err)
	}
	out, err := m.readPrompt()
	if err != nil {
		return "", fmt.Errorf("qemu: monitor %q: %w", cmd, err)
	}
	return cleanHMP(out), nil
}

// cleanHMP returns HMP output without the echo of the command line (the
// monitor's line editor redraws it character by character up to the
// first line break), terminal control sequences and carriage returns.
func cleanHMP(out string) string {
	if i := strings.Index(out, "\n"); i >= 0 {
		out = out[i+1:]
	} else {
		out = ""
	}
	var b strings.Builder
	for i := 0; i < len(out); i++ {
		c := out[i]
		if c == 0x1b { // ESC [ parameters final-byte
			if i+1 < len(out) && out[i+1] == '[' {
				i += 2
				for i < len(out) && (out[i] < 0x40 || out[i] > 0x7e) {
					i++
				}
			}
			continue
		}
		if c != '\r' {
			b.WriteByte(c)
		}
	}
	return strings.TrimSpace(b.String())
}

// SetLink sets the link of the guest's network device (netdev net0, and
// with it the NIC) up or down, as `set_link net0 on|off`.
func (m *Monitor) SetLink(up bool) error {
	state := "off"
	if up {
		state = "on"
	}
	out, err := m.Command("set_link net0 " + state)
	if err != nil {
		return err
	}
	if out != "" {
		return fmt.Errorf("qemu: set_link net0 %s: %s", state, out)
	}
	return nil
}

// Close closes the connection (QEMU keeps running).
func (m *Monitor) Close() error { return m.conn.Close() }
