// Package image holds the programs booted in QEMU. The unikernel images
// (image/kaidoku and its variants) are built with `go tool tamago` for
// GOOS=tamago GOARCH=amd64 (see the Makefile); image/linuxecho is the
// Linux guest peer of the benchmarks, a Linux program that package
// qemu/linuxguest puts in an initramfs.
package image
