// The arm64 kernel's virtual memory layout (Documentation/arch/arm64/memory.rst, since 5.4's "flip":
// the linear map at the bottom of the kernel half), declared once for analysis. What varies per
// kernel (VA_BITS, the KASLR slide, kimage_voffset, PHYS_OFFSET) comes from VMCOREINFO.

/** The lowest linear-map address with 52-bit virtual addresses: below it nothing is a kernel pointer. */
export const ARM64_KERNEL_SPACE = 0xfff0000000000000n;
/** _PAGE_END(48): the end of the linear map and the start of modules, the kernel image and vmalloc. */
export const ARM64_PAGE_END = 0xffff800000000000n;
/** KIMAGE_VADDR (= MODULES_END) of 6.x kernels with 2 GiB of module space (6.1: 0xffff800008000000). */
export const ARM64_KIMAGE_VADDR = 0xffff800080000000n;
/** Modules, the kernel image and vmalloc lie in [ARM64_PAGE_END, ARM64_VMALLOC_CEILING): modules may be anywhere in vmalloc space. */
export const ARM64_VMALLOC_CEILING = 0xfffffc0000000000n;

/** PAGE_OFFSET = -(1 << VA_BITS): the start of the linear map (pa = va - PAGE_OFFSET + PHYS_OFFSET). */
export const arm64PageOffset = (vaBits: number): bigint => ((1n << 64n) - (1n << BigInt(vaBits)));
