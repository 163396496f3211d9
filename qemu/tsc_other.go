//go:build !amd64

package qemu

// HostTSCkHz is only available on amd64 hosts.
func HostTSCkHz() (uint64, bool) { return 0, false }
