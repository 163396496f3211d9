//go:build linux && amd64

package main

import (
	"syscall"
	"unsafe"
)

// sysFinitModule is finit_module(2) on amd64, which the standard library's
// syscall package does not list.
const sysFinitModule = 313

func finitModuleFd(fd uintptr, params *byte) error {
	_, _, e := syscall.Syscall(sysFinitModule, fd, uintptr(unsafe.Pointer(params)), 0)
	if e != 0 {
		return e
	}
	return nil
}
