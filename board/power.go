//go:build tamago

package board

import (
	"github.com/usbarmory/tamago/amd64"
)

// debugExitPort is QEMU's isa-debug-exit device (-device
// isa-debug-exit,iobase=0xf4,iosize=0x04): a write of v makes QEMU exit
// with status (v<<1)|1, so the launcher recovers the guest's exit code.
const debugExitPort = 0xf4

// powerOff is the runtime's exit hook (goos.Exit), reached when main
// returns (code 0), on os.Exit, and after a panic (code 2).
func powerOff(code int32) {
	print("kaidoku: exit ", code, ", powering off\n")
	outb(debugExitPort, uint8(code))
	// Without the exit device: a triple fault, which QEMU turns into an
	// exit (status 0) when started with -no-reboot.
	amd64.Fault()
}

// PowerOff ends the guest with the given exit code.
func PowerOff(code int) { powerOff(int32(code)) }
