package wire

import "encoding/binary"

// Checksum returns the 16-bit one's-complement sum of b added to sum, as
// an unfolded 64-bit accumulator (csum_partial). Words are big-endian, so
// the folded result is in network order as a host integer.
//
// It adds eight bytes per step: under TCG every guest instruction counts.
func Checksum(b []byte, sum uint64) uint64 {
	for len(b) >= 32 {
		v0 := binary.BigEndian.Uint64(b[0:])
		v1 := binary.BigEndian.Uint64(b[8:])
		v2 := binary.BigEndian.Uint64(b[16:])
		v3 := binary.BigEndian.Uint64(b[24:])
		sum += v0>>32 + v0&0xffffffff + v1>>32 + v1&0xffffffff
		sum += v2>>32 + v2&0xffffffff + v3>>32 + v3&0xffffffff
		b = b[32:]
	}
	for len(b) >= 8 {
		v := binary.BigEndian.Uint64(b)
		sum += v>>32 + v&0xffffffff
		b = b[8:]
	}
	if len(b) >= 4 {
		sum += uint64(binary.BigEndian.Uint32(b))
		b = b[4:]
	}
	if len(b) >= 2 {
		sum += uint64(binary.BigEndian.Uint16(b))
		b = b[2:]
	}
	if len(b) == 1 {
		sum += uint64(b[0]) << 8
	}
	return sum
}

// Fold folds an accumulator to 16 bits without complementing.
func Fold(sum uint64) uint16 {
	sum = sum>>32 + sum&0xffffffff
	sum = sum>>32 + sum&0xffffffff
	sum = sum>>16 + sum&0xffff
	sum = sum>>16 + sum&0xffff
	return uint16(sum)
}

// CsumFold folds and complements (csum_fold): 0 means a valid checksum
// when the sum covered the checksum field too.
func CsumFold(sum uint64) uint16 { return ^Fold(sum) }

// PseudoSum is the IPv4 pseudo-header sum (csum_tcpudp_nofold).
func PseudoSum(src, dst Addr, proto uint8, length int) uint64 {
	return uint64(src>>16) + uint64(src&0xffff) + uint64(dst>>16) + uint64(dst&0xffff) +
		uint64(proto) + uint64(length)
}

// IPHeaderChecksum returns the value to store in an IPv4 header whose
// checksum field is zero (ip_send_check); over a received header it
// returns 0 iff the checksum is valid (ip_fast_csum).
func IPHeaderChecksum(h []byte) uint16 { return CsumFold(Checksum(h, 0)) }
