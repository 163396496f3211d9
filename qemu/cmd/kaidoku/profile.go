package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"time"

	"github.com/kaidoku-net/kaidoku/qemu/gdbstub"
	"github.com/kaidoku-net/kaidoku/qemu/profile"
)

// profileCmd samples a running image's stacks through QEMU's gdbstub and
// writes a pprof profile symbolised from the image's ELF.
func profileCmd(args []string) error {
	fs := flag.NewFlagSet("profile", flag.ExitOnError)
	var o profileOptions
	fs.StringVar(&o.Addr, "gdb", "127.0.0.1:1234", "the gdbstub's address (QEMU -gdb tcp:HOST:PORT; kaidoku load -gdb PORT)")
	fs.StringVar(&o.Image, "image", "build/kaidoku.elf", "the running image's ELF, for symbols")
	fs.DurationVar(&o.Duration, "duration", 10*time.Second, "how long to sample")
	fs.IntVar(&o.Hz, "hz", 200, "samples per second")
	fs.StringVar(&o.Out, "o", "guest.pprof", "the profile to write (go tool pprof FILE)")
	fs.IntVar(&o.Top, "top", 10, "lines per table of the summary")
	fs.Parse(args)
	if fs.NArg() > 0 {
		return fmt.Errorf("profile: unexpected arguments %q", fs.Args())
	}
	// Ctrl-C ends sampling early; what was sampled is still written.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	_, err := profileGuest(ctx, o, os.Stdout)
	return err
}

// profileOptions are profileGuest's settings.
type profileOptions struct {
	Addr, Image, Out string
	Duration         time.Duration
	Hz, Top          int
}

// profileGuest samples the guest behind the gdbstub at o.Addr, writes the
// profile to o.Out and a summary to w. The guest runs on afterwards.
func profileGuest(ctx context.Context, o profileOptions, w io.Writer) (*profile.Result, error) {
	img, err := profile.Open(o.Image)
	if err != nil {
		return nil, err
	}
	c, err := gdbstub.Dial(o.Addr, gdbstub.Options{})
	if err != nil {
		return nil, fmt.Errorf("gdbstub at %s: %w", o.Addr, err)
	}
	r, err := profile.Sample(ctx, c, img, profile.Options{Hz: o.Hz, Duration: o.Duration})
	if cerr := c.Close(); err == nil {
		err = cerr
	}
	if err != nil && !errors.Is(err, context.Canceled) {
		return nil, err
	}
	p := profile.Build(r, img)
	f, err := os.Create(o.Out)
	if err != nil {
		return nil, err
	}
	if err := p.Write(f); err != nil {
		f.Close()
		return nil, err
	}
	if err := f.Close(); err != nil {
		return nil, err
	}
	fmt.Fprintf(w, "profile: %s; wrote %s (go tool pprof -top %s)\n", r, o.Out, o.Out)
	profile.Summarize(p).Print(w, o.Top)
	return r, nil
}

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago,
// for QEMU's gdbstub.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
