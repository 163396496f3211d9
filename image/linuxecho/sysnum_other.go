//go:build linux && !amd64

package main

import "syscall"

// finitModuleFd is only wired up for amd64, the guest's architecture; on
// other architectures the program only has to compile (go vet ./...).
func finitModuleFd(fd uintptr, params *byte) error {
	return syscall.ENOSYS
}
