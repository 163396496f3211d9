//go:build !tamago

package main

import (
	"fmt"
	"os"
)

// main: AF_XDP here is kaidoku's own, on its virtio driver; there is
// nothing to run outside the image.
func main() {
	fmt.Fprintln(os.Stderr, "xskecho runs in the kaidoku image only (kaidoku run ./image/xskecho)")
	os.Exit(2)
}
