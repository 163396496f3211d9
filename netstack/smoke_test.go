package netstack

import "testing"

func TestSmokeDeliver(t *testing.T) {
	e := newEnv(t)
	s := e.bound(0, 5000)
	e.mark()
	e.send(udpPkt(5000, []byte("hello")))
	mustRecv(t, s, []byte("hello"))
	e.expect(map[string]int64{"Ip.InReceives": 1, "Ip.InDelivers": 1, "Udp.InDatagrams": 1})
}
