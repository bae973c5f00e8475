/*
 * kexec-ts purgatory for x86_64: the code that runs between the old and the new kernel.
 *
 * The old kernel's relocate_kernel jumps to purgatory_start in 64-bit mode, paging on with all RAM
 * identity-mapped, interrupts off, GDT/IDT invalid, registers zero. We load our own GDT and stack,
 * verify every segment's SHA-256 (purgatory.c), then enter the new kernel the way the x86 64-bit boot
 * protocol asks: CS = 0x10, DS/ES/SS = 0x18 (flat 4 GiB descriptors), %rsi = boot_params, jump to
 * the kernel's 64-bit entry (load address + 0x200). On a digest mismatch we never jump: halt forever.
 *
 * The loader (src/kexec/purgatory-link.ts) links this relocatable object at its final physical
 * address and patches the kexec_ts_* variables below.
 */
	.text
	.code64
	.globl	purgatory_start
	.type	purgatory_start, @function
purgatory_start:
	cli
	lgdt	gdt_ptr(%rip)
	movl	$0x18, %eax
	movl	%eax, %ds
	movl	%eax, %es
	movl	%eax, %ss
	movl	%eax, %fs
	movl	%eax, %gs
	leaq	stack_end(%rip), %rsp
	/* Reload CS with a far return to our 64-bit code descriptor. */
	pushq	$0x10
	leaq	1f(%rip), %rax
	pushq	%rax
	lretq
1:
	call	purgatory_main
	testl	%eax, %eax
	jnz	stop

	/* Hand over to the new kernel. */
	movq	kexec_ts_boot_params(%rip), %rsi
	movq	kexec_ts_kernel_entry(%rip), %rax
	xorl	%ebx, %ebx
	xorl	%ecx, %ecx
	xorl	%edx, %edx
	xorl	%edi, %edi
	xorl	%ebp, %ebp
	xorl	%r8d, %r8d
	xorl	%r9d, %r9d
	xorl	%r10d, %r10d
	xorl	%r11d, %r11d
	xorl	%r12d, %r12d
	xorl	%r13d, %r13d
	xorl	%r14d, %r14d
	xorl	%r15d, %r15d
	jmpq	*%rax

stop:
	cli
	hlt
	jmp	stop
	.size	purgatory_start, . - purgatory_start

	.data
	.balign	16
gdt:
	.quad	0x0000000000000000	/* null */
	.quad	0x0000000000000000	/* unused */
	.quad	0x00af9a000000ffff	/* 0x10: 64-bit code, flat */
	.quad	0x00cf92000000ffff	/* 0x18: data, flat 4 GiB */
gdt_end:
	.balign	16
gdt_ptr:
	.word	gdt_end - gdt - 1
	.quad	gdt			/* R_X86_64_64: the GDT's physical address */

	.globl	kexec_ts_kernel_entry
	.balign	8
kexec_ts_kernel_entry:
	.quad	0
	.size	kexec_ts_kernel_entry, 8

	.globl	kexec_ts_boot_params
	.balign	8
kexec_ts_boot_params:
	.quad	0
	.size	kexec_ts_boot_params, 8

	.bss
	.balign	4096
stack:
	.skip	8192
	.globl	stack_end
stack_end:
	.section .note.GNU-stack,"",@progbits
