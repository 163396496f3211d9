//go:build !tamago

package unikernel

// Device is the virtio-net device under tamago (image/netdev); on other
// systems there is none.
type Device struct{}

// Start does nothing on systems other than tamago, where the kernel's
// sockets serve the program; it returns an empty System.
func Start(opts Options) *System { return &System{} }

func printReady() {}
