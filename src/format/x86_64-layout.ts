// The x86_64 kernel's virtual memory layout constants (Documentation/arch/x86/x86_64/mm.rst), declared
// once for the dump readers, the kdump ELF core header, the host readers and analysis (src/analyze/arch/x86_64/).

/** __START_KERNEL_map: the kernel text mapping (va = START_KERNEL_MAP + pa - phys_base). */
export const X86_64_START_KERNEL_MAP = 0xffffffff80000000n;
/** PAGE_OFFSET (the direct map of all RAM) without KASLR memory randomization, 4-level paging. */
export const X86_64_PAGE_OFFSET = 0xffff888000000000n;
/** __START_KERNEL: where the kernel text is linked (CONFIG_PHYSICAL_START 16 MiB above the map), before KASLR. */
export const X86_64_START_KERNEL = X86_64_START_KERNEL_MAP + 0x1000000n;
/** MODULES_VADDR..MODULES_END: loaded modules (from 0xffffffffc0000000 with KASLR). */
export const X86_64_MODULES_VADDR = 0xffffffffa0000000n;
export const X86_64_MODULES_END = 0xffffffffff000000n;
/** The lowest kernel (upper-half) address with 4-level paging: below it, nothing is a kernel pointer. */
export const X86_64_KERNEL_SPACE = 0xffff800000000000n;
/** Where page_offset_base can be (KASLR keeps it inside): [start, end) with 4-level and 5-level paging. */
export const X86_64_DIRECT_MAP_RANGE = { 4: [0xffff880000000000n, 0xffffc80000000000n], 5: [0xff11000000000000n, 0xff91000000000000n] } as const;
