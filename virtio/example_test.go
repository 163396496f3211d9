package virtio_test

import (
	"fmt"

	"github.com/kaidoku-net/kaidoku/irq"
	"github.com/kaidoku-net/kaidoku/napi"
	"github.com/kaidoku-net/kaidoku/netstack/skb"
	"github.com/kaidoku-net/kaidoku/virtio"
	"github.com/kaidoku-net/kaidoku/virtio/virtiotest"
)

// The wiring the image uses, with the host device model standing in for
// QEMU and a software interrupt line for the IOAPIC.
func ExampleNewNet() {
	// DMA memory, and receive buffers carved from it.
	region := virtio.NewRegion(0x5000_0000, 8<<20)
	rx, _ := skb.NewPool("rx", 2048, 512, virtio.PoolMemory(region))

	// The device behind the virtio-mmio window (board.MMIO in the image).
	dev := virtiotest.New(virtiotest.Config{Region: region, MAC: [6]byte{0x52, 0x54, 0, 0x12, 0x34, 0x56}})

	// The softnet goroutine runs the NAPI polls; Deliver is where the
	// stack's netif_receive_skb plugs in.
	sn := napi.NewSoftnet(napi.Config{})
	got := make(chan *skb.Buffer, 4)
	nic, err := virtio.NewNet(dev, region, virtio.NetConfig{
		RxPool:  rx,
		Softnet: sn,
		Ifindex: 2,
		Deliver: func(b *skb.Buffer) { got <- b },
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer nic.Close()

	// Route the device's interrupt to its handler.
	table := &irq.Table{}
	const vector = 48
	table.Register(vector, "virtio-net", nic.Interrupt)
	line := irq.NewLine(table, vector, nil)
	defer line.Close()
	dev.SetLine(line)
	go sn.Run()
	defer sn.Stop()

	// A frame arrives.
	frame := make([]byte, 60)
	copy(frame, []byte{0x52, 0x54, 0, 0x12, 0x34, 0x56, 0x52, 0x54, 0, 0xab, 0xcd, 0xef, 0x08, 0x00})
	dev.Inject(frame, virtiotest.RxOptions{Flags: virtio.NetHdrFDataValid})
	b := <-got
	fmt.Printf("%d bytes, type %x, checksum unnecessary %v, ifindex %d, T1 after T0 %v\n",
		b.Len(), b.Data()[12:14], b.IPSummed == skb.ChecksumUnnecessary, b.Ifindex, b.Trace.T1 >= b.Trace.T0)
	b.Free()
	fmt.Printf("mac %x mtu %d\n", nic.MAC(), nic.MTU())
	// Output:
	// 60 bytes, type 0800, checksum unnecessary true, ifindex 2, T1 after T0 true
	// mac 525400123456 mtu 1500
}
