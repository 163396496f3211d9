package ipv4

import (
	"math/bits"

	"github.com/kaidoku-net/kaidoku/netstack/internal/wire"
)

// jhashInitval is JHASH_INITVAL (include/linux/jhash.h).
const jhashInitval = 0xdeadbeef

// jhashFinal is __jhash_final.
func jhashFinal(a, b, c uint32) uint32 {
	c ^= b
	c -= bits.RotateLeft32(b, 14)
	a ^= c
	a -= bits.RotateLeft32(c, 11)
	b ^= a
	b -= bits.RotateLeft32(a, 25)
	c ^= b
	c -= bits.RotateLeft32(b, 16)
	a ^= c
	a -= bits.RotateLeft32(c, 4)
	b ^= a
	b -= bits.RotateLeft32(a, 14)
	c ^= b
	c -= bits.RotateLeft32(b, 24)
	return c
}

// Jhash1Word is jhash_1word.
func Jhash1Word(a, initval uint32) uint32 {
	iv := initval + jhashInitval + 1<<2
	return jhashFinal(a+iv, iv, iv)
}

// Jhash3Words is jhash_3words.
func Jhash3Words(a, b, c, initval uint32) uint32 {
	iv := initval + jhashInitval + 3<<2
	return jhashFinal(a+iv, b+iv, c+iv)
}

// PortaddrHash is include/net/ip.h: ipv4_portaddr_hash, the UDP
// secondary hash of (address, port) with the namespace's hash mix.
func PortaddrHash(mix uint32, addr wire.Addr, port uint16) uint32 {
	return Jhash1Word(addr.Raw32(), mix) ^ uint32(port)
}
