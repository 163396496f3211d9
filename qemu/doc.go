// Package qemu launches kaidoku images in QEMU's microvm machine and is
// the host half of the test bench: it chooses the accelerator by probing,
// builds the command line (modern virtio-mmio, memory, SMP, the
// isa-debug-exit device that carries the guest's exit code out), passes the
// host's TSC rate to the guest under TCG, captures the serial console line
// by line with expect-style waits, wires the network (user-mode networking
// with UDP forwards on 127.0.0.1, a datagram socket carrying raw Ethernet
// frames to and from the test bench, or a tap device inside a network
// namespace it creates and removes), measures boot-to-READY time, and kills
// every process it started, by PID, when the VM is closed, when its
// deadline passes, or when the launching process dies.
package qemu
