// Register access for the QEMU microvm board: port I/O, MMIO, MSRs and the TSC.
// Plain instructions, no barriers beyond what x86 port and uncached MMIO
// accesses already imply.

//go:build tamago

#include "textflag.h"

// func inb(port uint16) uint8
TEXT ·inb(SB),NOSPLIT,$0-9
	MOVW	port+0(FP), DX
	INB
	MOVB	AX, ret+8(FP)
	RET

// func outb(port uint16, val uint8)
TEXT ·outb(SB),NOSPLIT,$0-3
	MOVW	port+0(FP), DX
	MOVB	val+2(FP), AX
	OUTB
	RET

// func outw(port uint16, val uint16)
TEXT ·outw(SB),NOSPLIT,$0-4
	MOVW	port+0(FP), DX
	MOVW	val+2(FP), AX
	OUTW
	RET

// func outl(port uint16, val uint32)
TEXT ·outl(SB),NOSPLIT,$0-8
	MOVW	port+0(FP), DX
	MOVL	val+4(FP), AX
	OUTL
	RET

// func mmioRead32(addr uint64) uint32
TEXT ·mmioRead32(SB),NOSPLIT,$0-12
	MOVQ	addr+0(FP), BX
	MOVL	(BX), AX
	MOVL	AX, ret+8(FP)
	RET

// func mmioWrite32(addr uint64, val uint32)
TEXT ·mmioWrite32(SB),NOSPLIT,$0-12
	MOVQ	addr+0(FP), BX
	MOVL	val+8(FP), AX
	MOVL	AX, (BX)
	RET

// func mmioRead16(addr uint64) uint16
TEXT ·mmioRead16(SB),NOSPLIT,$0-10
	MOVQ	addr+0(FP), BX
	MOVW	(BX), AX
	MOVW	AX, ret+8(FP)
	RET

// func mmioRead8(addr uint64) uint8
TEXT ·mmioRead8(SB),NOSPLIT,$0-9
	MOVQ	addr+0(FP), BX
	MOVB	(BX), AX
	MOVB	AX, ret+8(FP)
	RET

// func mmioWrite8(addr uint64, val uint8)
TEXT ·mmioWrite8(SB),NOSPLIT,$0-9
	MOVQ	addr+0(FP), BX
	MOVB	val+8(FP), AX
	MOVB	AX, (BX)
	RET

// func rdtsc() uint64
TEXT ·rdtsc(SB),NOSPLIT,$0-8
	RDTSC
	SHLQ	$32, DX
	ORQ	DX, AX
	MOVQ	AX, ret+0(FP)
	RET

// func wrmsr(msr uint32, val uint64)
TEXT ·wrmsr(SB),NOSPLIT,$0-16
	MOVL	msr+0(FP), CX
	MOVQ	val+8(FP), AX
	MOVQ	AX, DX
	SHRQ	$32, DX
	WRMSR
	RET

// func sidt() (base uint64, limit uint16)
TEXT ·sidt(SB),NOSPLIT,$16-10
	MOVQ	$0, 0(SP)
	MOVQ	$0, 8(SP)
	// SIDT m16&64 stores the limit then the base.
	BYTE	$0x0f; BYTE $0x01; BYTE $0x0c; BYTE $0x24	// SIDT (SP)
	MOVW	0(SP), AX
	MOVW	AX, limit+8(FP)
	MOVQ	2(SP), AX
	MOVQ	AX, base+0(FP)
	RET

// func cli()
TEXT ·cli(SB),NOSPLIT,$0
	CLI
	RET
