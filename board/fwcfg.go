//go:build tamago

package board

import (
	"strings"
)

// QEMU fw_cfg over x86 I/O ports (docs/specs/fw_cfg.rst).
const (
	fwcfgSelector = 0x510
	fwcfgData     = 0x511

	fwcfgSignature   = 0x00
	fwcfgCmdlineSize = 0x14
	fwcfgCmdlineData = 0x15
)

func fwcfgRead(key uint16, n int) []byte {
	outw(fwcfgSelector, key)
	b := make([]byte, n)
	for i := range b {
		b[i] = inb(fwcfgData)
	}
	return b
}

// readCmdline returns the kernel command line QEMU was given (-append),
// which microvm also extends with virtio_mmio.device= entries.
func readCmdline() string {
	if string(fwcfgRead(fwcfgSignature, 4)) != "QEMU" {
		return ""
	}
	sz := fwcfgRead(fwcfgCmdlineSize, 4)
	n := int(sz[0]) | int(sz[1])<<8 | int(sz[2])<<16 | int(sz[3])<<24
	if n <= 0 || n > 1<<16 {
		return ""
	}
	return strings.TrimRight(string(fwcfgRead(fwcfgCmdlineData, n)), "\x00")
}

var commandLine string

// Cmdline returns the kernel command line QEMU was given, as it is: the
// raw source that package board/cmdline reads the kaidoku.* words from.
func Cmdline() string { return commandLine }
