package netstack

import (
	"reflect"
	"testing"
)

// counterByTag returns the field of c.MIBCounters that the stats tags
// name group.name.
func counterByTag(c *Counters, group, name string) (uint64, bool) {
	v := reflect.ValueOf(&c.MIBCounters).Elem()
	for i := 0; i < v.NumField(); i++ {
		if v.Type().Field(i).Tag.Get("stat") != group {
			continue
		}
		g := v.Field(i)
		for j := 0; j < g.NumField(); j++ {
			if g.Type().Field(j).Tag.Get("stat") == name {
				return g.Field(j).Uint(), true
			}
		}
	}
	return 0, false
}

// Every counter the MIB keeps reaches Counters under its own name with
// its own value: each is set to a distinct value first.
func TestCountersEveryMIBCounter(t *testing.T) {
	e := newEnv(t)
	m := e.s.mib
	n := uint64(1)
	for i := range m.IP {
		m.IP[i].Store(n)
		n++
	}
	for i := range m.ICMP {
		m.ICMP[i].Store(n)
		n++
	}
	for i := range m.ICMPMsg {
		m.ICMPMsg[i].Store(n)
		n++
	}
	for i := range m.UDP {
		m.UDP[i].Store(n)
		m.UDPLite[i].Store(n + 1000)
		n++
	}
	for i := range m.Drops {
		m.Drops[i].Store(n)
		n++
	}
	m.Consumed.Store(n + 1)
	m.IPReversePathFilter.Store(n + 2)
	m.Softnet.Processed.Store(n + 3)
	m.Softnet.TimeSqueeze.Store(n + 4)
	e.s.dev.Stats.RxOtherhostDropped.Store(n + 5)

	c := e.s.Counters()
	count := 0
	m.Each(func(group, name string, want uint64) {
		count++
		if got, ok := counterByTag(c, group, name); !ok || got != want {
			t.Errorf("%s.%s = %d (field found: %v), want %d", group, name, got, ok, want)
		}
		// The agent reads counters by the same names (Stack.Counter).
		if group != "Softnet" {
			if v, ok := m.Value(group + "." + name); !ok || v != want {
				t.Errorf("MIB.Value(%s.%s) = %d, %v; want %d", group, name, v, ok, want)
			}
		}
	})
	if count < 100 {
		t.Errorf("MIB.Each walked %d counters", count)
	}
	if c.IcmpMsg.In[8] != m.ICMPMsg[8].Load() || c.IcmpMsg.Out[0] != m.ICMPMsg[0x100].Load() {
		t.Errorf("IcmpMsg: InType8 %d OutType0 %d", c.IcmpMsg.In[8], c.IcmpMsg.Out[0])
	}
	if c.Link.RxOtherhostDropped != n+5 || c.Drop.Consumed != n+1 || c.TcpExt.IPReversePathFilter != n+2 {
		t.Errorf("link %+v, consumed %d, IPReversePathFilter %d", c.Link, c.Drop.Consumed, c.TcpExt.IPReversePathFilter)
	}
	m.Consumed.Store(0) // cleanup's own accounting is not disturbed by the fake values
}

// The sockets and sockstat come from the tables, not from text.
func TestCountersSockets(t *testing.T) {
	e := newEnv(t)
	e.bound(0, 7)
	e.bound(0, 9)
	e.send(udpPkt(7, []byte("hello")))
	c := e.s.Counters()
	if len(c.Sockets) != 2 || c.Sockstat.UDPInUse != 2 {
		t.Fatalf("sockets %+v, sockstat %+v", c.Sockets, c.Sockstat)
	}
	for _, s := range c.Sockets {
		if s.LocalPort == 7 && s.RxQueue == 0 || s.LocalPort == 9 && s.RxQueue != 0 || s.Inode == 0 {
			t.Errorf("socket %+v", s)
		}
	}
	if c.Udp.InDatagrams != 0 || c.Ip.InReceives != 1 || c.Link.RxPackets != 1 {
		t.Errorf("Udp.InDatagrams %d Ip.InReceives %d link rx %d", c.Udp.InDatagrams, c.Ip.InReceives, c.Link.RxPackets)
	}
}
