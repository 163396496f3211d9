//go:build tamago

package main

import (
	"net/netip"
	"sync/atomic"

	"github.com/kaidoku-net/kaidoku/image/capture"
	"github.com/kaidoku-net/kaidoku/netstack/socket"
	"github.com/kaidoku-net/kaidoku/unikernel"
)

// captureService is the capture service, for the drops section.
var captureService atomic.Pointer[capture.Service]

// runCapture serves `kaidoku capture`: frames taken by a packet socket,
// streamed as pcap records to the host (allow).
func runCapture(s *socket.Socket, sys *unikernel.System, allow netip.Prefix) {
	svc := capture.New(sys.Stack, allow)
	captureService.Store(svc)
	svc.Serve(s)
}
