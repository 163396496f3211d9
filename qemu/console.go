package qemu

import (
	"bufio"
	"fmt"
	"io"
	"regexp"
	"strings"
	"sync"
	"time"
)

// Console is the guest's serial console, captured line by line. Every line
// is kept, so Expect can match lines printed before it was called.
type Console struct {
	mu sync.Mutex
	// +checklocks:mu
	lines []Line
	// +checklocks:mu
	closed bool
	// +checklocks:mu
	notify chan struct{} // closed and replaced on every new line
	tee    io.Writer
	// +checklocks:mu
	start time.Time
}

// Line is one console line and when it arrived, relative to QEMU's start.
type Line struct {
	At   time.Duration
	Text string
}

func newConsole(start time.Time, tee io.Writer) *Console {
	return &Console{notify: make(chan struct{}), tee: tee, start: start}
}

func (c *Console) read(r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		text := strings.TrimRight(sc.Text(), "\r")
		if c.tee != nil {
			fmt.Fprintln(c.tee, text)
		}
		c.mu.Lock()
		c.lines = append(c.lines, Line{At: time.Since(c.start), Text: text})
		close(c.notify)
		c.notify = make(chan struct{})
		c.mu.Unlock()
	}
	c.mu.Lock()
	c.closed = true
	close(c.notify)
	c.mu.Unlock()
}

// Lines returns a copy of every line so far.
func (c *Console) Lines() []Line {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Line(nil), c.lines...)
}

// Text returns the console so far as one string.
func (c *Console) Text() string {
	var b strings.Builder
	for _, l := range c.Lines() {
		b.WriteString(l.Text)
		b.WriteByte('\n')
	}
	return b.String()
}

// Expect waits until a line from index from on matches re, and returns it
// with its index. It fails when timeout passes or the console closes (the
// VM exited) first.
func (c *Console) Expect(re *regexp.Regexp, from int, timeout time.Duration) (Line, int, error) {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		c.mu.Lock()
		for i := from; i < len(c.lines); i++ {
			if re.MatchString(c.lines[i].Text) {
				l := c.lines[i]
				c.mu.Unlock()
				return l, i, nil
			}
		}
		from = len(c.lines)
		closed, ch := c.closed, c.notify
		c.mu.Unlock()
		if closed {
			return Line{}, from, fmt.Errorf("console closed before %q appeared", re)
		}
		select {
		case <-ch:
		case <-deadline.C:
			return Line{}, from, fmt.Errorf("timed out after %v waiting for %q", timeout, re)
		}
	}
}

// ExpectString is Expect for a literal substring, from the first line.
func (c *Console) ExpectString(s string, timeout time.Duration) (Line, error) {
	l, _, err := c.Expect(regexp.MustCompile(regexp.QuoteMeta(s)), 0, timeout)
	return l, err
}
