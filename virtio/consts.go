package virtio

// virtio-mmio register offsets (virtio spec 1.2, 4.2.2; Linux
// include/uapi/linux/virtio_mmio.h), shared by the driver and the host
// device model.
const (
	RegMagic             = 0x000 // "virt"
	RegVersion           = 0x004 // 2 = modern, 1 = legacy
	RegDeviceID          = 0x008
	RegVendorID          = 0x00c
	RegDeviceFeatures    = 0x010
	RegDeviceFeaturesSel = 0x014
	RegDriverFeatures    = 0x020
	RegDriverFeaturesSel = 0x024
	RegQueueSel          = 0x030
	RegQueueNumMax       = 0x034
	RegQueueNum          = 0x038
	RegQueueReady        = 0x044
	RegQueueNotify       = 0x050
	RegInterruptStatus   = 0x060
	RegInterruptACK      = 0x064
	RegStatus            = 0x070
	RegQueueDescLow      = 0x080
	RegQueueDescHigh     = 0x084
	RegQueueDriverLow    = 0x090
	RegQueueDriverHigh   = 0x094
	RegQueueDeviceLow    = 0x0a0
	RegQueueDeviceHigh   = 0x0a4
	RegConfigGeneration  = 0x0fc
	RegConfig            = 0x100 // device-specific configuration space
)

// MMIOMagic is the value of RegMagic, "virt" in little-endian.
const MMIOMagic = 0x74726976

// DeviceIDNet is the virtio device ID of a network card.
const DeviceIDNet = 1

// Interrupt status bits (VIRTIO_MMIO_INT_*).
const (
	InterruptVring  = 1 << 0 // a used buffer notification
	InterruptConfig = 1 << 1 // a configuration change notification
)

// Device status bits (include/uapi/linux/virtio_config.h).
const (
	StatusAcknowledge = 1
	StatusDriver      = 2
	StatusDriverOK    = 4
	StatusFeaturesOK  = 8
	StatusNeedsReset  = 0x40
	StatusFailed      = 0x80
)

// Feature bits, as bit numbers.
const (
	FeatureNetCsum        = 0  // VIRTIO_NET_F_CSUM: device takes partial checksums
	FeatureNetGuestCsum   = 1  // VIRTIO_NET_F_GUEST_CSUM: driver takes partial checksums
	FeatureNetMTU         = 3  // VIRTIO_NET_F_MTU
	FeatureNetMAC         = 5  // VIRTIO_NET_F_MAC
	FeatureNetGuestTSO4   = 7  // VIRTIO_NET_F_GUEST_TSO4
	FeatureNetMrgRxbuf    = 15 // VIRTIO_NET_F_MRG_RXBUF
	FeatureNetStatus      = 16 // VIRTIO_NET_F_STATUS
	FeatureNetCtrlVQ      = 17 // VIRTIO_NET_F_CTRL_VQ
	FeatureNetMQ          = 22 // VIRTIO_NET_F_MQ
	FeatureIndirectDesc   = 28 // VIRTIO_RING_F_INDIRECT_DESC
	FeatureEventIdx       = 29 // VIRTIO_RING_F_EVENT_IDX
	FeatureVersion1       = 32 // VIRTIO_F_VERSION_1
	FeatureAccessPlatform = 33 // VIRTIO_F_ACCESS_PLATFORM
	FeatureRingPacked     = 34 // VIRTIO_F_RING_PACKED
)

// NetFeatures is every feature the driver implements and so accepts; it
// refuses the rest.
const NetFeatures = 1<<FeatureVersion1 | 1<<FeatureNetMAC | 1<<FeatureNetStatus |
	1<<FeatureEventIdx | 1<<FeatureNetMrgRxbuf | 1<<FeatureNetGuestCsum

// Split ring flags (include/uapi/linux/virtio_ring.h).
const (
	DescFNext         = 1 // VRING_DESC_F_NEXT
	DescFWrite        = 2 // VRING_DESC_F_WRITE: device writes the buffer
	DescFIndirect     = 4 // VRING_DESC_F_INDIRECT
	AvailFNoInterrupt = 1 // VRING_AVAIL_F_NO_INTERRUPT
	UsedFNoNotify     = 1 // VRING_USED_F_NO_NOTIFY
)

// virtio_net_hdr_v1 (include/uapi/linux/virtio_net.h): flags u8,
// gso_type u8, hdr_len, gso_size, csum_start, csum_offset, num_buffers
// (u16 each, little-endian).
const (
	NetHdrLen        = 12
	NetHdrFNeedsCsum = 1 // VIRTIO_NET_HDR_F_NEEDS_CSUM
	NetHdrFDataValid = 2 // VIRTIO_NET_HDR_F_DATA_VALID
	NetHdrGSONone    = 0 // VIRTIO_NET_HDR_GSO_NONE
	NetHdrGSOECN     = 0x80
)

// virtio_net_config fields (offsets into the configuration space) and the
// status bit.
const (
	NetConfigMAC    = 0 // mac[6]
	NetConfigStatus = 6 // le16 status
	NetSLinkUp      = 1 // VIRTIO_NET_S_LINK_UP
)

// VringNeedEvent is vring_need_event: whether moving an index from old to
// new crosses event, so that the other side asked to be told.
func VringNeedEvent(event, new, old uint16) bool {
	return new-event-1 < new-old
}
