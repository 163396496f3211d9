// Interrupt entry stubs for device vectors 32-47.
//
// Each stub is the IDT gate target of its vector: its first instructions
// read the TSC into hardirqTSC, as close to the hardware interrupt as the
// CPU allows (T0 of ARCHITECTURE.md), then it continues into the gate's previous
// target, TamaGo's own entry for that vector, with every register and the
// stack exactly as the CPU left them. Flags may change: the interrupted
// code's RFLAGS are restored by IRETQ from the interrupt frame.

//go:build tamago

#include "textflag.h"

TEXT ·entry0(SB),NOSPLIT|NOFRAME,$0
	LEAQ	-8(SP), SP	// slot for the continuation address
	PUSHQ	AX
	PUSHQ	DX
	RDTSC
	SHLQ	$32, DX
	ORQ	DX, AX
	MOVQ	AX, ·hardirqTSC+0(SB)
	MOVQ	·next+0(SB), AX
	MOVQ	AX, 16(SP)
	POPQ	DX
	POPQ	AX
	RET			// continue into TamaGo's entry for this vector

TEXT ·entry1(SB),NOSPLIT|NOFRAME,$0
	LEAQ	-8(SP), SP	// slot for the continuation address
	PUSHQ	AX
	PUSHQ	DX
	RDTSC
	SHLQ	$32, DX
	ORQ	DX, AX
	MOVQ	AX, ·hardirqTSC+8(SB)
	MOVQ	·next+8(SB), AX
	MOVQ	AX, 16(SP)
	POPQ	DX
	POPQ	AX
	RET			// continue into TamaGo's entry for this vector

TEXT ·entry2(SB),NOSPLIT|NOFRAME,$0
	LEAQ	-8(SP), SP	// slot for the continuation address
	PUSHQ	AX
	PUSHQ	DX
	RDTSC
	SHLQ	$32, DX
	ORQ	DX, AX
	MOVQ	AX, ·hardirqTSC+16(SB)
	MOVQ	·next+16(SB), AX
	MOVQ	AX, 16(SP)
	POPQ	DX
	POPQ	AX
	RET			// continue into TamaGo's entry for this vector

TEXT ·entry3(SB),NOSPLIT|NOFRAME,$0
	LEAQ	-8(SP), SP	// slot for the continuation address
	PUSHQ	AX
	PUSHQ	DX
	RDTSC
	SHLQ	$32, DX
	ORQ	DX, AX
	MOVQ	AX, ·hardirqTSC+24(SB)
	MOVQ	·next+24(SB), AX
	MOVQ	AX, 16(SP)
	POPQ	DX
	POPQ	AX
	RET			// continue into TamaGo's entry for this vector

TEXT ·entry4(SB),NOSPLIT|NOFRAME,$0
	LEAQ	-8(SP), SP	// slot for the continuation address
	PUSHQ	AX
	PUSHQ	DX
	RDTSC
	SHLQ	$32, DX
	ORQ	DX, AX
	MOVQ	AX, ·hardirqTSC+32(SB)
	MOVQ	·next+32(SB), AX
	MOVQ	AX, 16(SP)
	POPQ	DX
	POPQ	AX
	RET			// continue into TamaGo's entry for this vector

TEXT ·entry5(SB),NOSPLIT|NOFRAME,$0
	LEAQ	-8(SP), SP	// slot for the continuation address
	PUSHQ	AX
	PUSHQ	DX
	RDTSC
	SHLQ	$32, DX
	ORQ	DX, AX
	MOVQ	AX, ·hardirqTSC+40(SB)
	MOVQ	·next+40(SB), AX
	MOVQ	AX, 16(SP)
	POPQ	DX
	POPQ	AX
	RET			// continue into TamaGo's entry for this vector

TEXT ·entry6(SB),NOSPLIT|NOFRAME,$0
	LEAQ	-8(SP), SP	// slot for the continuation address
	PUSHQ	AX
	PUSHQ	DX
	RDTSC
	SHLQ	$32, DX
	ORQ	DX, AX
	MOVQ	AX, ·hardirqTSC+48(SB)
	MOVQ	·next+48(SB), AX
	MOVQ	AX, 16(SP)
	POPQ	DX
	POPQ	AX
	RET			// continue into TamaGo's entry for this vector

TEXT ·entry7(SB),NOSPLIT|NOFRAME,$0
	LEAQ	-8(SP), SP	// slot for the continuation address
	PUSHQ	AX
	PUSHQ	DX
	RDTSC
	SHLQ	$32, DX
	ORQ	DX, AX
	MOVQ	AX, ·hardirqTSC+56(SB)
	MOVQ	·next+56(SB), AX
	MOVQ	AX, 16(SP)
	POPQ	DX
	POPQ	AX
	RET			// continue into TamaGo's entry for this vector

TEXT ·entry8(SB),NOSPLIT|NOFRAME,$0
	LEAQ	-8(SP), SP	// slot for the continuation address
	PUSHQ	AX
	PUSHQ	DX
	RDTSC
	SHLQ	$32, DX
	ORQ	DX, AX
	MOVQ	AX, ·hardirqTSC+64(SB)
	MOVQ	·next+64(SB), AX
	MOVQ	AX, 16(SP)
	POPQ	DX
	POPQ	AX
	RET			// continue into TamaGo's entry for this vector

TEXT ·entry9(SB),NOSPLIT|NOFRAME,$0
	LEAQ	-8(SP), SP	// slot for the continuation address
	PUSHQ	AX
	PUSHQ	DX
	RDTSC
	SHLQ	$32, DX
	ORQ	DX, AX
	MOVQ	AX, ·hardirqTSC+72(SB)
	MOVQ	·next+72(SB), AX
	MOVQ	AX, 16(SP)
	POPQ	DX
	POPQ	AX
	RET			// continue into TamaGo's entry for this vector

TEXT ·entry10(SB),NOSPLIT|NOFRAME,$0
	LEAQ	-8(SP), SP	// slot for the continuation address
	PUSHQ	AX
	PUSHQ	DX
	RDTSC
	SHLQ	$32, DX
	ORQ	DX, AX
	MOVQ	AX, ·hardirqTSC+80(SB)
	MOVQ	·next+80(SB), AX
	MOVQ	AX, 16(SP)
	POPQ	DX
	POPQ	AX
	RET			// continue into TamaGo's entry for this vector

TEXT ·entry11(SB),NOSPLIT|NOFRAME,$0
	LEAQ	-8(SP), SP	// slot for the continuation address
	PUSHQ	AX
	PUSHQ	DX
	RDTSC
	SHLQ	$32, DX
	ORQ	DX, AX
	MOVQ	AX, ·hardirqTSC+88(SB)
	MOVQ	·next+88(SB), AX
	MOVQ	AX, 16(SP)
	POPQ	DX
	POPQ	AX
	RET			// continue into TamaGo's entry for this vector

TEXT ·entry12(SB),NOSPLIT|NOFRAME,$0
	LEAQ	-8(SP), SP	// slot for the continuation address
	PUSHQ	AX
	PUSHQ	DX
	RDTSC
	SHLQ	$32, DX
	ORQ	DX, AX
	MOVQ	AX, ·hardirqTSC+96(SB)
	MOVQ	·next+96(SB), AX
	MOVQ	AX, 16(SP)
	POPQ	DX
	POPQ	AX
	RET			// continue into TamaGo's entry for this vector

TEXT ·entry13(SB),NOSPLIT|NOFRAME,$0
	LEAQ	-8(SP), SP	// slot for the continuation address
	PUSHQ	AX
	PUSHQ	DX
	RDTSC
	SHLQ	$32, DX
	ORQ	DX, AX
	MOVQ	AX, ·hardirqTSC+104(SB)
	MOVQ	·next+104(SB), AX
	MOVQ	AX, 16(SP)
	POPQ	DX
	POPQ	AX
	RET			// continue into TamaGo's entry for this vector

TEXT ·entry14(SB),NOSPLIT|NOFRAME,$0
	LEAQ	-8(SP), SP	// slot for the continuation address
	PUSHQ	AX
	PUSHQ	DX
	RDTSC
	SHLQ	$32, DX
	ORQ	DX, AX
	MOVQ	AX, ·hardirqTSC+112(SB)
	MOVQ	·next+112(SB), AX
	MOVQ	AX, 16(SP)
	POPQ	DX
	POPQ	AX
	RET			// continue into TamaGo's entry for this vector

TEXT ·entry15(SB),NOSPLIT|NOFRAME,$0
	LEAQ	-8(SP), SP	// slot for the continuation address
	PUSHQ	AX
	PUSHQ	DX
	RDTSC
	SHLQ	$32, DX
	ORQ	DX, AX
	MOVQ	AX, ·hardirqTSC+120(SB)
	MOVQ	·next+120(SB), AX
	MOVQ	AX, 16(SP)
	POPQ	DX
	POPQ	AX
	RET			// continue into TamaGo's entry for this vector

DATA	·entries+0(SB)/8, $·entry0(SB)
DATA	·entries+8(SB)/8, $·entry1(SB)
DATA	·entries+16(SB)/8, $·entry2(SB)
DATA	·entries+24(SB)/8, $·entry3(SB)
DATA	·entries+32(SB)/8, $·entry4(SB)
DATA	·entries+40(SB)/8, $·entry5(SB)
DATA	·entries+48(SB)/8, $·entry6(SB)
DATA	·entries+56(SB)/8, $·entry7(SB)
DATA	·entries+64(SB)/8, $·entry8(SB)
DATA	·entries+72(SB)/8, $·entry9(SB)
DATA	·entries+80(SB)/8, $·entry10(SB)
DATA	·entries+88(SB)/8, $·entry11(SB)
DATA	·entries+96(SB)/8, $·entry12(SB)
DATA	·entries+104(SB)/8, $·entry13(SB)
DATA	·entries+112(SB)/8, $·entry14(SB)
DATA	·entries+120(SB)/8, $·entry15(SB)
GLOBL	·entries(SB),RODATA,$128

// func entryTable() *[16]uint64
TEXT ·entryTable(SB),NOSPLIT,$0-8
	MOVQ	$·entries(SB), AX
	MOVQ	AX, ret+0(FP)
	RET
