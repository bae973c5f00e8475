// The x86_64 kernel's virtual memory layout constants (Documentation/arch/x86/x86_64/mm.rst), declared
// once for the dump readers, the kdump ELF core header and the host readers.

/** __START_KERNEL_map: the kernel text mapping (va = START_KERNEL_MAP + pa - phys_base). */
export const X86_64_START_KERNEL_MAP = 0xffffffff80000000n;
/** PAGE_OFFSET (the direct map of all RAM) without KASLR memory randomization, 4-level paging. */
export const X86_64_PAGE_OFFSET = 0xffff888000000000n;
