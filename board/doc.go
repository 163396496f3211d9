// Package board is kaidoku's support for the QEMU microvm machine under
// GOOS=tamago GOARCH=amd64: it brings up the bootstrap CPU, both IOAPICs,
// the serial console, the DMA region and a correct clock, halts the CPU
// when idle, finds the virtio-mmio devices and powers the guest off when
// the program ends.
//
// It replaces tamago's board/qemu/microvm, which requires the KVM pvclock
// and therefore cannot boot under TCG. The clock is, in order of
// preference: the KVM pvclock when the CPU reports KVM; the TSC at the
// rate the launcher passed on the command line (kaidoku.tsc_khz=, measured
// on the host, whose TSC the guest's runs at under TCG); the TSC
// calibrated at boot against the PIT. Which one was used is reported by [ClockSource].
//
// The wall clock (time.Now) is set at boot as Linux sets it: from the KVM
// wall clock under KVM, otherwise from the CMOS RTC (microvm's rtc=on,
// decoded by package board/rtc); [WallClockSource] says which, and the
// banner shows it. Without either, time.Now counts from 1970 at boot.
//
// On other platforms the package holds only what does not touch the
// hardware (VirtioSlot and the parsing and formatting in format.go).
package board
