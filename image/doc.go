// Package image holds the unikernel programs booted in QEMU. Each
// sub-directory is one image, built with `go tool tamago` for
// GOOS=tamago GOARCH=amd64 (see the Makefile).
package image
