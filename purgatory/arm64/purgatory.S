// kexec-ts arm64 purgatory: runs between the old and the new kernel for kexec_load.
//
// The old kernel (arch/arm64/kernel/relocate_kernel.S) copies the segments into place with the MMU
// and D-cache off and branches here with x0 = 0 (the DTB address is only known to kexec_file_load).
// We verify every loaded segment's SHA-256 against the digest the loader recorded, then enter the
// new kernel the way Documentation/arch/arm64/booting.rst asks: x0 = DTB physical address,
// x1 = x2 = x3 = 0, at the Image's load address. On a mismatch we report on the UART (when the
// loader gave us one) and stop here: a damaged kernel is never entered.
//
// Position independent and self-contained: every reference is PC-relative inside .text, so the
// assembled object has no relocations and runs wherever the loader places it. The loader
// (src/kexec/arch/arm64/purgatory.ts) copies .text and patches the kexec_ts_* variables by symbol.
// With the MMU off all data accesses are Device memory: every load/store below is naturally aligned.
//
// Build: llvm-mc -triple=aarch64-linux-gnu -filetype=obj -o purgatory-arm64.o purgatory.S
//        (or aarch64-linux-gnu-as -o purgatory-arm64.o purgatory.S)

	.text
	.p2align 3
	.globl	purgatory_start
purgatory_start:
	adr	x20, .Lsink
	ldr	x20, [x20]			// x20 = UART data register, 0 = silent
	adr	x0, msg_hello
	bl	puts
	adr	x1, .Lskip_checks
	ldr	x1, [x1]
	cbnz	x1, .Lenter
	adr	x21, .Lregions		// x21 = region being checked
	mov	x22, #KEXEC_TS_MAX_REGIONS	// x22 = regions left
.Lnext_region:
	cbz	x22, .Lverified
	ldp	x0, x1, [x21]			// start, len
	cbz	x1, .Lverified			// the table ends at the first empty entry
	adr	x2, digest
	bl	sha256
	adr	x2, digest
	add	x3, x21, #16			// the expected digest
	mov	x4, #0
.Lcompare:
	ldr	x5, [x2, x4]
	ldr	x6, [x3, x4]
	cmp	x5, x6
	b.ne	.Lmismatch
	add	x4, x4, #8
	cmp	x4, #32
	b.lo	.Lcompare
	add	x21, x21, #48
	sub	x22, x22, #1
	b	.Lnext_region
.Lverified:
	adr	x0, msg_ok
	bl	puts
.Lenter:
	adr	x0, .Ldtb
	ldr	x0, [x0]
	adr	x17, .Lkernel_entry
	ldr	x17, [x17]
	mov	x1, xzr
	mov	x2, xzr
	mov	x3, xzr
	br	x17

.Lmismatch:
	adr	x0, msg_bad
	bl	puts
	ldr	x0, [x21]
	bl	puthex
	adr	x0, msg_stop
	bl	puts
.Lstop:
	wfe
	b	.Lstop

// puts(x0 = NUL-terminated string): byte by byte to the UART at x20 (if any). Uses x0, x1.
puts:
	cbz	x20, 2f
1:	ldrb	w1, [x0], #1
	cbz	w1, 2f
	strb	w1, [x20]
	b	1b
2:	ret

// puthex(x0): "0x" and 16 hex digits. Uses x0-x3.
puthex:
	cbz	x20, 2f
	mov	w1, #'0'
	strb	w1, [x20]
	mov	w1, #'x'
	strb	w1, [x20]
	mov	x2, #60
1:	lsr	x1, x0, x2
	and	x1, x1, #0xf
	cmp	x1, #10
	add	x3, x1, #'0'
	add	x1, x1, #('a' - 10)
	csel	x1, x3, x1, lo
	strb	w1, [x20]
	subs	x2, x2, #4
	b.pl	1b
2:	ret

// sha256(x0 = data, x1 = length, x2 = 32-byte output). FIPS 180-4; no crypto extensions needed.
// Keeps its state in x24-x28 across sha256_block calls; clobbers x0-x18, x24-x28.
sha256:
	mov	x24, x30
	mov	x25, x0				// x25 = next block
	mov	x26, x1				// x26 = bytes left
	mov	x27, x1				// x27 = total length
	mov	x28, x2				// x28 = output
	adr	x3, sha256_init
	adr	x4, sha256_h
	ldp	x5, x6, [x3]
	stp	x5, x6, [x4]
	ldp	x5, x6, [x3, #16]
	stp	x5, x6, [x4, #16]
1:	cmp	x26, #64
	b.lo	2f
	mov	x0, x25
	bl	sha256_block
	add	x25, x25, #64
	sub	x26, x26, #64
	b	1b
2:	adr	x3, sha256_tail			// the last 0-63 bytes, 0x80, zeros, bit length: 1 or 2 blocks
	mov	x4, #0
3:	str	xzr, [x3, x4]
	add	x4, x4, #8
	cmp	x4, #128
	b.lo	3b
	mov	x4, #0
4:	cmp	x4, x26
	b.hs	5f
	ldrb	w5, [x25, x4]
	strb	w5, [x3, x4]
	add	x4, x4, #1
	b	4b
5:	mov	w5, #0x80
	strb	w5, [x3, x26]
	mov	x6, #56				// length field at 56 (one block) or 120 (two)
	cmp	x26, #56
	b.lo	6f
	mov	x6, #120
6:	lsl	x5, x27, #3
	rev	x5, x5
	str	x5, [x3, x6]
	mov	x0, x3
	bl	sha256_block
	cmp	x26, #56			// (sha256_block clobbered x6)
	b.lo	7f
	adr	x0, sha256_tail + 64
	bl	sha256_block
7:	adr	x3, sha256_h			// digest = H0..H7 big-endian
	mov	x4, #0
8:	ldr	w5, [x3, x4]
	rev	w5, w5
	str	w5, [x28, x4]
	add	x4, x4, #4
	cmp	x4, #32
	b.lo	8b
	mov	x30, x24
	ret

// sha256_block(x0 = 64 bytes, 4-byte aligned): one compression into sha256_h. Clobbers x0-x18.
// Working variables: a=w3 b=w4 c=w5 d=w6 e=w7 f=w8 g=w12 h=w13.
sha256_block:
	adr	x11, sha256_w
	mov	x18, #0
1:	ldr	w14, [x0, x18, lsl #2]		// W[0..15]: the block's big-endian words
	rev	w14, w14
	str	w14, [x11, x18, lsl #2]
	add	x18, x18, #1
	cmp	x18, #16
	b.lo	1b
2:	sub	x15, x18, #15			// W[16..63] = W[i-16] + s0(W[i-15]) + W[i-7] + s1(W[i-2])
	ldr	w14, [x11, x15, lsl #2]
	ror	w15, w14, #7
	eor	w15, w15, w14, ror #18
	eor	w15, w15, w14, lsr #3		// s0
	sub	x16, x18, #2
	ldr	w16, [x11, x16, lsl #2]
	ror	w17, w16, #17
	eor	w17, w17, w16, ror #19
	eor	w17, w17, w16, lsr #10		// s1
	add	w15, w15, w17
	sub	x16, x18, #16
	ldr	w16, [x11, x16, lsl #2]
	add	w15, w15, w16
	sub	x16, x18, #7
	ldr	w16, [x11, x16, lsl #2]
	add	w15, w15, w16
	str	w15, [x11, x18, lsl #2]
	add	x18, x18, #1
	cmp	x18, #64
	b.lo	2b
	adr	x9, sha256_h
	ldp	w3, w4, [x9]
	ldp	w5, w6, [x9, #8]
	ldp	w7, w8, [x9, #16]
	ldp	w12, w13, [x9, #24]
	adr	x10, sha256_k
	mov	x18, #0
3:	ror	w14, w7, #6
	eor	w14, w14, w7, ror #11
	eor	w14, w14, w7, ror #25		// S1(e)
	and	w15, w7, w8
	bic	w16, w12, w7
	eor	w15, w15, w16			// ch(e, f, g)
	add	w14, w14, w15
	add	w14, w14, w13
	ldr	w15, [x10, x18, lsl #2]
	add	w14, w14, w15
	ldr	w15, [x11, x18, lsl #2]
	add	w14, w14, w15			// t1 = h + S1 + ch + K[i] + W[i]
	ror	w15, w3, #2
	eor	w15, w15, w3, ror #13
	eor	w15, w15, w3, ror #22		// S0(a)
	and	w16, w3, w4
	and	w17, w3, w5
	eor	w16, w16, w17
	and	w17, w4, w5
	eor	w16, w16, w17			// maj(a, b, c)
	add	w15, w15, w16			// t2 = S0 + maj
	mov	w13, w12
	mov	w12, w8
	mov	w8, w7
	add	w7, w6, w14
	mov	w6, w5
	mov	w5, w4
	mov	w4, w3
	add	w3, w14, w15
	add	x18, x18, #1
	cmp	x18, #64
	b.lo	3b
	ldp	w14, w15, [x9]
	add	w14, w14, w3
	add	w15, w15, w4
	stp	w14, w15, [x9]
	ldp	w14, w15, [x9, #8]
	add	w14, w14, w5
	add	w15, w15, w6
	stp	w14, w15, [x9, #8]
	ldp	w14, w15, [x9, #16]
	add	w14, w14, w7
	add	w15, w15, w8
	stp	w14, w15, [x9, #16]
	ldp	w14, w15, [x9, #24]
	add	w14, w14, w12
	add	w15, w15, w13
	stp	w14, w15, [x9, #24]
	ret

	.set	KEXEC_TS_MAX_REGIONS, 16

msg_hello:	.asciz	"kexec-ts purgatory: verifying segments\r\n"
msg_ok:		.asciz	"kexec-ts purgatory: all SHA-256 digests match, entering the kernel\r\n"
msg_bad:	.asciz	"kexec-ts purgatory: SHA-256 mismatch in the segment at "
msg_stop:	.asciz	"; not entering the kernel\r\n"

	.p2align 3
sha256_init:
	.long	0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19
sha256_k:
	.long	0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5
	.long	0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174
	.long	0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da
	.long	0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967
	.long	0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85
	.long	0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070
	.long	0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3
	.long	0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2

// Variables the loader patches (by symbol) and scratch space — all inside .text, which is writable
// once the MMU is off; .text is the whole segment.
	.p2align 3
	.globl	kexec_ts_kernel_entry, kexec_ts_dtb, kexec_ts_sink, kexec_ts_skip_checks, kexec_ts_regions
// (Referenced through local labels: a global symbol would make the assembler emit a relocation.)
kexec_ts_kernel_entry:
.Lkernel_entry:		.quad	0
kexec_ts_dtb:
.Ldtb:			.quad	0
kexec_ts_sink:
.Lsink:			.quad	0
kexec_ts_skip_checks:
.Lskip_checks:		.quad	0
// struct { u64 start, len; u8 sha256[32]; } regions[16]: ends at the first len == 0.
kexec_ts_regions:
.Lregions:		.zero	48 * KEXEC_TS_MAX_REGIONS
sha256_h:	.zero	32
digest:		.zero	32
sha256_w:	.zero	256
sha256_tail:	.zero	128
	.globl	purgatory_end
purgatory_end:
