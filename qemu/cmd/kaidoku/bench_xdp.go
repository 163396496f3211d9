package main

import (
	"net/netip"

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
