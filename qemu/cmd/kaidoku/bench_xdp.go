package main

import (
	"net/netip"
	"path/filepath"

	"github.com/kaidoku-net/kaidoku/qemu"
	"github.com/kaidoku-net/kaidoku/qemu/bench"
)

// benchXDPDrop builds kaidoku's image and runs the XDP_DROP measurement
// on it, returning its table.
func benchXDPDrop(root, image string, guestIP netip.Addr, o bench.XDPDropOptions) (string, error) {
	if err := qemu.BuildImage(root, "./image/kaidoku", image, ""); err != nil {
		return "", err
	}
	cfg, err := imageConfig(image)()
	if err != nil {
		return "", err
	}
	return bench.XDPDropMarkdown(bench.RunXDPDrop(cfg, guestIP, o), o), nil
}

// xskPeer builds image/xskecho, the UDP echo on an AF_XDP socket, as a
// peer of the side-by-side benchmark, in copy mode or in zero-copy mode;
// its stats service reports the AF_XDP reader's interrupt-to-wakeup.
func xskPeer(root string, guestIP netip.Addr, zeroCopy bool) (bench.Peer, error) {
	img := filepath.Join(root, "build", "xskecho.elf")
	if err := qemu.BuildImage(root, "./image/xskecho", img, ""); err != nil {
		return bench.Peer{}, err
	}
	name, args := bench.XSKPeerName, []string{"kaidoku.stats.allow=any"}
	if zeroCopy {
		name, args = bench.XSKZeroCopyPeerName, append(args, "--", "-zerocopy")
	}
	return bench.Peer{Name: name, Files: []string{img}, GuestIP: guestIP, EchoPort: 7, StatsPort: 161,
		Config: func() (qemu.Config, error) {
			return qemu.Config{Kernel: img, Append: args}, nil
		}}, nil
}
