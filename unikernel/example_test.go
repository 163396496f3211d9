package unikernel_test

import (
	"log"
	"net"

	"github.com/kaidoku-net/kaidoku/unikernel"
)

// A UDP echo on port 7: the package documentation's program.
func Example() {
	unikernel.Start(unikernel.Options{WaitReady: true})
	c, err := net.ListenPacket("udp4", ":7")
	if err != nil {
		log.Fatal(err)
	}
	unikernel.Ready() // serving: the launcher may send now
	buf := make([]byte, 65536)
	for {
		n, from, err := c.ReadFrom(buf)
		if err != nil {
			log.Fatal(err)
		}
		c.WriteTo(buf[:n], from)
	}
}
