//go:build tamago

package gvisornet

import (
	"errors"
	"sync/atomic"

	"gvisor.dev/gvisor/pkg/buffer"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/stack"

	"github.com/kaidoku-net/kaidoku/netstack/skb"
	"github.com/kaidoku-net/kaidoku/virtio"
)

// LinkEndpoint is a gVisor stack.LinkEndpoint over kaidoku's virtio-net
// driver. It speaks Ethernet itself (as gVisor's link/ethernet does for
// an inner endpoint), so that the frame is parsed once, where it is
// copied.
//
// Receive: the driver calls Deliver from its NAPI poll (the softnet
// goroutine) with a frame in a DMA buffer of the kaidoku frame pool.
// Deliver copies the frame into a gVisor buffer (one copy: gVisor's
// packet buffers own their chunks and outlive the poll), frees the skb
// (the only place it is freed), and runs gVisor's receive path
// synchronously in the same goroutine, as netif_receive_skb runs in
// net_rx_action: there is no queue or goroutine hop between the driver
// and the stack.
//
// Transmit: WritePackets copies each packet (Ethernet header included)
// into a frame from the kaidoku pool with the driver's headroom reserved
// and hands it to dev.Transmit, which owns it from then on (it frees it
// once sent or on error). gVisor keeps ownership of its packet buffers.
// No gVisor queueing discipline is installed: the driver has its own
// pfifo backlog, as kaidoku's stack uses.
type LinkEndpoint struct {
	dev     *virtio.Net
	frames  *skb.Pool
	mac     tcpip.LinkAddress
	observe func(frame []byte, t0, t1 int64)

	dispatcher atomic.Pointer[dispatcherRef]
	mtu        atomic.Uint32

	// Counters of this endpoint (the driver and gVisor keep their own).
	rxDelivered, rxNoDispatcher, rxShort atomic.Uint64
	txFrames, txNoFrame, txTooBig        atomic.Uint64
	txDropped                            atomic.Uint64
}

// dispatcherRef boxes the interface so that it can be swapped atomically:
// Deliver reads it once per frame without a lock.
type dispatcherRef struct{ d stack.NetworkDispatcher }

var _ stack.LinkEndpoint = (*LinkEndpoint)(nil)

// NewLinkEndpoint returns the endpoint over dev, transmitting frames from
// the pool frames. observe, if not nil, is called with every received
// frame and the driver's timestamps of it (T0, the interrupt; T1, the
// NAPI poll) before gVisor sees it.
func NewLinkEndpoint(dev *virtio.Net, frames *skb.Pool, observe func(frame []byte, t0, t1 int64)) *LinkEndpoint {
	mac := dev.MAC()
	e := &LinkEndpoint{dev: dev, frames: frames, mac: tcpip.LinkAddress(mac[:]), observe: observe}
	e.mtu.Store(uint32(dev.MTU()))
	return e
}

// Deliver is the driver's NetConfig.Deliver: it owns b and frees it here,
// exactly once, whatever happens to the frame.
func (e *LinkEndpoint) Deliver(b *skb.Buffer) {
	frame := b.Data()
	if len(frame) < header.EthernetMinimumSize {
		e.rxShort.Add(1)
		b.Free()
		return
	}
	// The driver's timestamps, before the frame is gone (image/gvisor-echo
	// matches them to its reads).
	if e.observe != nil {
		e.observe(frame, b.Trace.T0, b.Trace.T1)
	}
	ref := e.dispatcher.Load()
	if ref == nil {
		e.rxNoDispatcher.Add(1)
		b.Free()
		return
	}
	// The device validated the checksum (DATA_VALID), or the frame comes
	// from the host with a partial checksum still to fill in (NEEDS_CSUM):
	// either way the receiver trusts it, as Linux does for
	// CHECKSUM_UNNECESSARY and CHECKSUM_PARTIAL.
	csumOK := b.IPSummed == skb.ChecksumUnnecessary || b.IPSummed == skb.ChecksumPartial
	pkt := stack.NewPacketBuffer(stack.PacketBufferOptions{Payload: buffer.MakeWithData(frame)})
	b.Free()
	pkt.RXChecksumValidated = csumOK
	if !e.ParseHeader(pkt) {
		e.rxShort.Add(1)
		pkt.DecRef()
		return
	}
	eth := header.Ethernet(pkt.LinkHeader().Slice())
	switch dst := eth.DestinationAddress(); {
	case dst == header.EthernetBroadcastAddress:
		pkt.PktType = tcpip.PacketBroadcast
	case header.IsMulticastEthernetAddress(dst):
		pkt.PktType = tcpip.PacketMulticast
	case dst == e.mac:
		pkt.PktType = tcpip.PacketHost
	default:
		pkt.PktType = tcpip.PacketOtherHost
	}
	e.rxDelivered.Add(1)
	ref.d.DeliverNetworkPacket(eth.Type(), pkt)
	pkt.DecRef()
}

// WritePackets implements stack.LinkWriter. Packets already carry their
// Ethernet header (AddHeader). It returns how many were handed to the
// driver; a full frame pool stops the batch with ErrNoBufferSpace, as a
// full device queue does in gVisor's own endpoints.
func (e *LinkEndpoint) WritePackets(pkts stack.PacketBufferList) (int, tcpip.Error) {
	n := 0
	headroom := e.dev.Headroom()
	for _, pkt := range pkts.AsSlice() {
		size := pkt.Size()
		if headroom+size > e.frames.Size() {
			e.txTooBig.Add(1)
			return n, &tcpip.ErrMessageTooLong{}
		}
		b := e.frames.Get()
		if b == nil {
			e.txNoFrame.Add(1)
			return n, &tcpip.ErrNoBufferSpace{}
		}
		b.Reserve(headroom)
		dst := b.Put(size)
		// Walk the packet's views from its first header: no allocation,
		// unlike AsSlices or ToView.
		views, off := pkt.AsViewList()
		for v := views.Front(); v != nil && len(dst) > 0; v = v.Next() {
			s := v.AsSlice()
			if off >= len(s) {
				off -= len(s)
				continue
			}
			c := copy(dst, s[off:])
			dst = dst[c:]
			off = 0
		}
		if err := e.dev.Transmit(b); err != nil {
			// The driver freed b. A full backlog is back-pressure the
			// sender should see; a link down or closed device is a drop.
			e.txDropped.Add(1)
			if errors.Is(err, virtio.ErrTxQueueFull) {
				return n, &tcpip.ErrNoBufferSpace{}
			}
			n++
			continue
		}
		e.txFrames.Add(1)
		n++
	}
	return n, nil
}

// MTU implements stack.LinkEndpoint: the IP MTU (1500), the Ethernet
// header not included.
func (e *LinkEndpoint) MTU() uint32 { return e.mtu.Load() }

// SetMTU implements stack.LinkEndpoint.
func (e *LinkEndpoint) SetMTU(mtu uint32) { e.mtu.Store(mtu) }

// MaxHeaderLength implements stack.LinkEndpoint: the Ethernet header plus
// the driver's headroom, so that gVisor reserves room for both.
func (e *LinkEndpoint) MaxHeaderLength() uint16 {
	return uint16(header.EthernetMinimumSize + e.dev.Headroom())
}

// LinkAddress implements stack.LinkEndpoint.
func (e *LinkEndpoint) LinkAddress() tcpip.LinkAddress { return e.mac }

// SetLinkAddress implements stack.LinkEndpoint. The device's address is
// fixed; the request is ignored.
func (e *LinkEndpoint) SetLinkAddress(tcpip.LinkAddress) {}

// Capabilities implements stack.LinkEndpoint. Ethernet needs ARP. No
// checksum offload is claimed: the driver negotiates none for transmit,
// and receive validation is reported per packet (RXChecksumValidated).
func (e *LinkEndpoint) Capabilities() stack.LinkEndpointCapabilities {
	return stack.CapabilityResolutionRequired
}

// Attach implements stack.LinkEndpoint.
func (e *LinkEndpoint) Attach(d stack.NetworkDispatcher) {
	if d == nil {
		e.dispatcher.Store(nil)
		return
	}
	e.dispatcher.Store(&dispatcherRef{d})
}

// IsAttached implements stack.LinkEndpoint.
func (e *LinkEndpoint) IsAttached() bool { return e.dispatcher.Load() != nil }

// Wait implements stack.LinkEndpoint: the endpoint owns no goroutine (the
// softnet goroutine belongs to the driver).
func (e *LinkEndpoint) Wait() {}

// ARPHardwareType implements stack.LinkEndpoint.
func (e *LinkEndpoint) ARPHardwareType() header.ARPHardwareType { return header.ARPHardwareEther }

// AddHeader implements stack.LinkEndpoint: the Ethernet header, as
// gVisor's link/ethernet writes it.
func (e *LinkEndpoint) AddHeader(pkt *stack.PacketBuffer) {
	eth := header.Ethernet(pkt.LinkHeader().Push(header.EthernetMinimumSize))
	eth.Encode(&header.EthernetFields{
		SrcAddr: pkt.EgressRoute.LocalLinkAddress,
		DstAddr: pkt.EgressRoute.RemoteLinkAddress,
		Type:    pkt.NetworkProtocolNumber,
	})
}

// ParseHeader implements stack.LinkEndpoint: consume the Ethernet header.
func (e *LinkEndpoint) ParseHeader(pkt *stack.PacketBuffer) bool {
	_, ok := pkt.LinkHeader().Consume(header.EthernetMinimumSize)
	return ok
}

// Close implements stack.LinkEndpoint. The device stays up: the image
// never removes its NIC.
func (e *LinkEndpoint) Close() {}

// SetOnCloseAction implements stack.LinkEndpoint. Close destroys nothing,
// so there is nothing to run before it.
func (e *LinkEndpoint) SetOnCloseAction(func()) {}
