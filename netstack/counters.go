package netstack

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/kaidoku-net/kaidoku/netstack/internal/ether"
)

//go:generate go test -run TestCountersGenerated . -update

// Counters is a snapshot of every counter the stack keeps, taken by
// Stack.Counters: the SNMP MIBs of /proc/net/snmp and /proc/net/netstat
// (Ip, IpExt, Icmp, IcmpMsg, Udp, UdpLite, TcpExt) with Linux's names as
// field names, a counter per drop reason, softnet_data's counters, the
// device's rtnl_link_stats64, /proc/net/sockstat and /proc/net/udp's
// sockets.
//
// The MIB groups (MIBCounters, counters_gen.go) are generated from the
// MIB's own tables, so a counter added there appears here and in the
// stats service's machine form. The struct tags name each counter in the
// stats service's machine form ("Udp.InDatagrams", "Drop.NO_SOCKET",
// "link.rx_packets", "udp.3.drops"); image/stats prints and parses it.
type Counters struct {
	MIBCounters
	// Link is the interface's rtnl_link_stats64 (ip -s -s link).
	Link LinkCounters `stat:"link"`
	// Sockstat is /proc/net/sockstat's UDP and FRAG lines.
	Sockstat Sockstat `stat:"sockstat"`
	// Sockets are the sockets of /proc/net/udp, keyed by inode.
	Sockets []UDPSocket `stat:"udp"`
}

// Sockstat is /proc/net/sockstat's UDP and FRAG lines.
type Sockstat struct {
	// UDPInUse is sockets in use; UDPMem is udp_memory_allocated in
	// pages.
	UDPInUse, UDPMem int64
	// FragInUse is reassembly queues; FragMemory their truesize.
	FragInUse, FragMemory int64
}

// UDPSocket is one line of /proc/net/udp.
type UDPSocket struct {
	// Inode is the socket's creation number, its key.
	Inode uint64 `stat:",key"`
	// LocalPort and RemotePort are in host order (0: unconnected).
	LocalPort, RemotePort uint16
	// RxQueue is sk_rmem_alloc; Drops is sk_drops.
	RxQueue int64
	Drops   uint64
}

// IcmpMsg is /proc/net/snmp's IcmpMsg lines: ICMP messages by type
// received (In) and sent (Out). Linux prints only the non-zero types; so
// does the machine form ("IcmpMsg.InType8 3"), where an absent type is 0.
type IcmpMsg struct {
	In, Out [256]uint64
}

// EachCounter calls f with every non-zero type as "InType<n>" or
// "OutType<n>".
func (m *IcmpMsg) EachCounter(f func(name string, v uint64)) {
	for t, v := range m.In {
		if v != 0 {
			f("InType"+strconv.Itoa(t), v)
		}
	}
	for t, v := range m.Out {
		if v != 0 {
			f("OutType"+strconv.Itoa(t), v)
		}
	}
}

// SetCounter sets the counter EachCounter calls name.
func (m *IcmpMsg) SetCounter(name string, v uint64) error {
	arr := &m.In
	rest, ok := strings.CutPrefix(name, "InType")
	if !ok {
		arr = &m.Out
		if rest, ok = strings.CutPrefix(name, "OutType"); !ok {
			return fmt.Errorf("no IcmpMsg counter %q", name)
		}
	}
	t, err := strconv.ParseUint(rest, 10, 8)
	if err != nil || strconv.FormatUint(t, 10) != rest {
		return fmt.Errorf("no IcmpMsg counter %q", name)
	}
	arr[t] = v
	return nil
}

// Counters returns a snapshot of every counter the stack keeps. The
// counters are read one by one while the stack runs, as reading /proc
// does.
func (s *Stack) Counters() *Counters {
	c := new(Counters)
	idx := mibIndex()
	mv := reflect.ValueOf(&c.MIBCounters).Elem()
	s.mib.Each(func(group, name string, v uint64) {
		if path, ok := idx[group+"."+name]; ok {
			mv.FieldByIndex(path).SetUint(v)
		}
	})
	s.mib.EachICMPMsg(func(out bool, typ uint8, v uint64) {
		if out {
			c.IcmpMsg.Out[typ] = v
		} else {
			c.IcmpMsg.In[typ] = v
		}
	})
	readLink(&c.Link, &s.dev.Stats)
	s.bh.Lock()
	q, mem := s.ip.FragMem()
	s.bh.Unlock()
	c.Sockstat = Sockstat{UDPInUse: int64(s.udp.InUse()), UDPMem: s.udp.MemAllocated(),
		FragInUse: int64(q), FragMemory: int64(mem)}
	for _, sk := range s.udp.Sockets() {
		c.Sockets = append(c.Sockets, UDPSocket{Inode: sk.Inode, LocalPort: sk.LocalPort, RemotePort: sk.RemotePort,
			RxQueue: int64(sk.RxQueue), Drops: sk.Drops})
	}
	return c
}

// readLink copies the device's counters, field by field of the same
// name (LinkCounters is generated from ether.Stats).
func readLink(c *LinkCounters, st *ether.Stats) {
	src := reflect.ValueOf(st).Elem()
	dst := reflect.ValueOf(c).Elem()
	for i := 0; i < src.NumField(); i++ {
		if a, ok := src.Field(i).Addr().Interface().(*atomic.Uint64); ok {
			if f := dst.FieldByName(src.Type().Field(i).Name); f.IsValid() {
				f.SetUint(a.Load())
			}
		}
	}
}

var (
	mibIndexOnce sync.Once
	mibIndexMap  map[string][]int
)

// mibIndex maps "Group.Name", as MIB.Each calls a counter, to its field
// in MIBCounters.
func mibIndex() map[string][]int {
	mibIndexOnce.Do(func() {
		mibIndexMap = map[string][]int{}
		t := reflect.TypeFor[MIBCounters]()
		for i := 0; i < t.NumField(); i++ {
			g := t.Field(i)
			if g.Type.Kind() != reflect.Struct || g.Type == reflect.TypeFor[IcmpMsg]() {
				continue
			}
			for j := 0; j < g.Type.NumField(); j++ {
				f := g.Type.Field(j)
				mibIndexMap[g.Tag.Get("stat")+"."+f.Tag.Get("stat")] = []int{i, j}
			}
		}
	})
	return mibIndexMap
}
