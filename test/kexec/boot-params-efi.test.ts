// The x86_64 zero page on a UEFI-booted machine, planned from a recorded OVMF guest
// (fixtures/x86_64-debian-6.1-uefi) and compared with what kexec-tools built in the same guest.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bzImage64Loader } from '../../src/kexec/arch/x86_64/bzimage64.ts';
import { readEfiFacts } from '../../src/host/efi-facts.ts';
import { EfiMemoryDesc } from '../../src/format/efi.ts';
import { EFI_INFO_OFFSET, EFI_LOADER_SIGNATURE_64, EfiInfo, EfiSetupData, SETUP_EFI, acpiRsdpAddr, parseEfiSystab } from '../../src/kexec/arch/x86_64/efi.ts';
import { readMemoryMap } from '../../src/host/kexec-facts.ts';
import { validatePlan, type PlanInput } from '../../src/kexec/plan.ts';
import { BootParams, SetupData, SETUP_RNG_SEED } from '../../src/format/bzimage.ts';
import { readStruct } from '../../src/format/struct.ts';
import { ParseError } from '../../src/errors.ts';
import { planKernelLoad } from '../../src/host/kexec-load.ts';
import { dryRunText } from '../../src/kexec/load.ts';
import { kexecDebugSegments, purgatory } from './fixture.ts';
import { fakeBzImage, fakeVmlinux } from './synthetic.ts';
import { elfX86_64Loader } from '../../src/kexec/arch/x86_64/elf-x86_64.ts';

const DIR = new URL('../../fixtures/x86_64-debian-6.1-uefi/', import.meta.url).pathname;
const FIRST = `${DIR}first/`;
const bootParams = () => new Uint8Array(readFileSync(`${FIRST}boot_params.bin`));
const kexecToolsZeroPage = () => readStruct(BootParams, new Uint8Array(readFileSync(`${DIR}after-kexec-tools/boot_params.bin`)));
const kexecToolsD = () => readFileSync(`${DIR}kexec-tools-d.txt`, 'utf8');


/** The load kexec-tools made in the guest: same kernel header sizes, initrd size and command line. */
function uefiInput(over: { xloadflags?: number; host?: PlanInput['host'] } = {}): PlanInput {
  return {
    image: fakeBzImage({ setupSects: 39, kernelSize: 0xd797c0, initSize: 0x3378000, ...(over.xloadflags !== undefined ? { xloadflags: over.xloadflags } : {}) }),
    imageName: 'vmlinuz',
    initrd: new Uint8Array(0xeb33e0),
    cmdline: 'console=ttyS0 panic=-1 e2e.stage=second ',
    kind: 'load',
    memory: readMemoryMap({ memmap: `${FIRST}memmap`, iomem: `${FIRST}iomem.txt` }),
    purgatory: purgatory(),
    host: over.host ?? { bootParams: bootParams(), rngSeed: new Uint8Array(32), efi: readEfiFacts(`${FIRST}efi`)! },
  };
}

test('EFI facts from a recorded /sys/firmware/efi: systab tables, fw_vendor/runtime/config_table, the runtime map in N order', () => {
  const efi = readEfiFacts(`${FIRST}efi`)!;
  assert.deepEqual(efi.systab, { ACPI20: 0x3fb7e014n, ACPI: 0x3fb7e000n, SMBIOS: 0x3f918000n });
  assert.equal(efi.fwVendor, 0x3f91c818n);
  assert.equal(efi.runtime, 0x3f9ecb98n);
  assert.equal(efi.configTable, 0x3f9ecc98n);
  assert.equal(efi.runtimeMap.length, 6);
  assert.deepEqual(efi.runtimeMap[0], { type: 6, physAddr: 0x3ff58000n, virtAddr: 0xfffffffefff58000n, numPages: 0x20n, attribute: 0x800000000000000fn });
  assert.deepEqual(efi.runtimeMap[5], { type: 3, physAddr: 0n, virtAddr: 0xfffffffefbe00000n, numPages: 1n, attribute: 0x800000000000000fn });
  assert.equal(readEfiFacts(`${DIR}no-such-dir`), undefined, 'not UEFI: no facts');
  assert.throws(() => parseEfiSystab('ACPI20=zzz\n', 'systab'), ParseError);
});

test('UEFI bzImage plan matches kexec -d of kexec-tools in the same guest: SETUP_EFI, EFI runtime map, RNG seed, initrd, kernel', () => {
  const plan = bzImage64Loader.plan(uefiInput());
  validatePlan(plan);
  const theirs = kexecDebugSegments(kexecToolsD());
  const ours = plan.segments;
  assert.deepEqual(ours.map((s) => s.what), ['setup_data EFI', 'EFI runtime map', 'setup_data RNG seed', 'initrd', 'kernel', 'boot params + cmdline', 'purgatory']);
  for (let i = 0; i < 5; i++) {
    assert.equal(ours[i]!.mem, theirs[i]!.mem, `${ours[i]!.what} mem`);
    assert.equal(ours[i]!.memsz, theirs[i]!.memsz, `${ours[i]!.what} memsz`);
    assert.equal(BigInt(ours[i]!.buf.length), theirs[i]!.bufsz, `${ours[i]!.what} bufsz`);
  }
  assert.equal(BigInt(ours[5]!.buf.length), theirs[5]!.bufsz, 'boot params + cmdline bufsz');
  const d = kexecToolsD();
  const theirE820 = d.slice(d.indexOf('E820 memmap:')).split('\n').slice(1).filter((l) => /^[0-9a-f]{16}-/.test(l));
  assert.deepEqual(plan.debug.slice(plan.debug.indexOf('E820 memmap:') + 1), theirE820);
});

test('UEFI zero page: efi_info, acpi_rsdp_addr, e820 and the setup_data chain equal what kexec-tools handed the next kernel', () => {
  const plan = bzImage64Loader.plan(uefiInput());
  const setup = plan.segments.find((s) => s.what === 'boot params + cmdline')!;
  const ours = readStruct(BootParams, setup.buf);
  const theirs = kexecToolsZeroPage();
  assert.deepEqual(ours.efi_info, theirs.efi_info, 'efi_info byte for byte (EL64, systab, 40-byte descriptors v1, map at 0x101000)');
  const ei = readStruct(EfiInfo, setup.buf.subarray(EFI_INFO_OFFSET));
  assert.equal(ei.efi_loader_signature, EFI_LOADER_SIGNATURE_64);
  assert.equal(ei.efi_memmap, 0x101000);
  assert.equal(ei.efi_memmap_size, 6 * 40);
  // boot_params.acpi_rsdp_addr of the UEFI-booted 6.1 kernel is 0; systab's ACPI20= is used, as kexec-tools does.
  assert.equal(readStruct(BootParams, bootParams()).acpi_rsdp_addr, 0n);
  assert.equal(ours.acpi_rsdp_addr, 0x3fb7e014n);
  assert.equal(ours.acpi_rsdp_addr, theirs.acpi_rsdp_addr);
  for (const f of ['e820_entries', 'e820_table', 'ext_mem_k', 'alt_mem_k', 'hardware_subarch', 'setup_data', 'type_of_loader', 'root_dev', 'root_flags'] as const) {
    assert.deepEqual(ours[f], theirs[f], f);
  }
  // screen_info: the running kernel's (EFI GOP framebuffer); kexec-tools read the same from /dev/fb0.
  assert.equal(ours.orig_video_isVGA, 0x70);
  assert.equal(ours.orig_video_isVGA, theirs.orig_video_isVGA);
  assert.deepEqual(ours.screen_info.subarray(0x12, 0x1c), theirs.screen_info.subarray(0x12, 0x1c), 'lfb width, height, depth, base');
  assert.equal(ours.secure_boot, 2, 'secure boot mode carried over (kexec_file_load does; kexec-tools leaves 0)');

  // The chain: RNG seed (0x102000) -> SETUP_EFI (0x100000) -> end.
  const byMem = (mem: bigint) => plan.segments.find((s) => s.mem === mem)!;
  const rng = byMem(ours.setup_data);
  assert.equal(readStruct(SetupData, rng.buf).type, SETUP_RNG_SEED);
  const efiNode = byMem(readStruct(SetupData, rng.buf).next);
  const hdr = readStruct(SetupData, efiNode.buf);
  assert.deepEqual([hdr.type, hdr.len, hdr.next], [SETUP_EFI, 96, 0n]);
  assert.equal(efiNode.buf.length, 0x70);
  const esd = readStruct(EfiSetupData, efiNode.buf.subarray(SetupData.size));
  assert.deepEqual(esd, { fw_vendor: 0x3f91c818n, runtime: 0x3f9ecb98n, tables: 0x3f9ecc98n, smbios: 0x3f918000n });
  const map = byMem(BigInt(ei.efi_memmap));
  const first = readStruct(EfiMemoryDesc, map.buf);
  assert.deepEqual(first, { type: 6, pad: 0, phys_addr: 0x3ff58000n, virt_addr: 0xfffffffefff58000n, num_pages: 0x20n, attribute: 0x800000000000000fn });
});

test('no EFI state when it cannot be passed: kernel without XLF_EFI_KEXEC, no runtime map; ACPI still found through systab', () => {
  const noFlag = bzImage64Loader.plan(uefiInput({ xloadflags: 0x6f }));
  assert.ok(!noFlag.segments.some((s) => s.what.includes('EFI')));
  assert.ok(noFlag.notes.some((n) => /XLF_EFI_KEXEC/.test(n)), noFlag.notes.join('\n'));
  const setup = readStruct(BootParams, noFlag.segments.find((s) => s.what === 'boot params + cmdline')!.buf);
  assert.deepEqual([...setup.efi_info], new Array(32).fill(0));
  assert.equal(setup.acpi_rsdp_addr, 0x3fb7e014n);

  const efi = { ...readEfiFacts(`${FIRST}efi`)!, runtimeMap: [] };
  const noMap = bzImage64Loader.plan(uefiInput({ host: { bootParams: bootParams(), efi } }));
  assert.ok(noMap.notes.some((n) => /runtime-map/.test(n)), noMap.notes.join('\n'));
  assert.deepEqual(noMap.segments.map((s) => s.what), ['initrd', 'kernel', 'boot params + cmdline', 'purgatory']);

  // A SeaBIOS machine: no /sys/firmware/efi, no note, the zero page as before.
  const bios = bzImage64Loader.plan(uefiInput({ host: { rngSeed: new Uint8Array(32) } }));
  assert.deepEqual(bios.segments.map((s) => s.what), ['setup_data RNG seed', 'initrd', 'kernel', 'boot params + cmdline', 'purgatory']);
  assert.ok(!bios.notes.some((n) => /EFI/.test(n)));
  const bp = readStruct(BootParams, bios.segments.find((s) => s.what === 'boot params + cmdline')!.buf);
  assert.deepEqual([bp.orig_video_cols, bp.orig_video_lines, bp.orig_video_isVGA], [80, 25, 1], 'default VGA text console');
});

test('ACPI RSDP: the running kernel boot_params value wins over systab ACPI20=, which wins over ACPI=', () => {
  const bp = bootParams();
  const efi = readEfiFacts(`${FIRST}efi`)!;
  assert.equal(acpiRsdpAddr(bp, efi), 0x3fb7e014n);
  assert.equal(acpiRsdpAddr(bp, { ...efi, systab: { ACPI: 0x3fb7e000n } }), 0x3fb7e000n);
  const withRsdp = bp.slice();
  new DataView(withRsdp.buffer).setBigUint64(0x70, 0xf59d0n, true);
  assert.equal(acpiRsdpAddr(withRsdp, efi), 0xf59d0n);
  assert.equal(acpiRsdpAddr(undefined, undefined), 0n);
});

test('ELF vmlinux on the UEFI machine: RSDP from the systab and the RNG seed, no EFI handover (no setup header to allow it)', () => {
  const image = fakeVmlinux([{ vaddr: 0xffffffff81000000n, paddr: 0x1000000n, filesz: 0x200000, memsz: 0x400000 }], 0xffffffff81000000n);
  const plan = elfX86_64Loader.plan({ ...uefiInput(), image, imageName: 'vmlinux' });
  validatePlan(plan);
  const setup = plan.segments.find((s) => s.what === 'boot params + cmdline')!;
  const bp = readStruct(BootParams, setup.buf);
  assert.equal(bp.acpi_rsdp_addr, 0x3fb7e014n, "systab's ACPI20 (the recorded boot_params has 0)");
  assert.equal(readStruct(SetupData, plan.segments.find((s) => s.mem === bp.setup_data)!.buf).type, SETUP_RNG_SEED);
  assert.equal(readStruct(EfiInfo, setup.buf, EFI_INFO_OFFSET).efi_memmap, 0, 'no EFI memory map handed over');
});

test('kexec-ts -l --dry-run --root DIR plans with that machine\'s zero page and EFI state (SETUP_EFI, runtime map)', async () => {
  const root = mkdtempSync(join(tmpdir(), 'kexec-uefi-root-'));
  try {
    mkdirSync(join(root, 'proc'));
    mkdirSync(join(root, 'sys/kernel/boot_params'), { recursive: true });
    mkdirSync(join(root, 'sys/firmware'), { recursive: true });
    cpSync(`${FIRST}iomem.txt`, join(root, 'proc/iomem'));
    cpSync(`${FIRST}memmap`, join(root, 'sys/firmware/memmap'), { recursive: true });
    cpSync(`${FIRST}boot_params.bin`, join(root, 'sys/kernel/boot_params/data'));
    cpSync(`${FIRST}efi`, join(root, 'sys/firmware/efi'), { recursive: true });
    const kernel = join(root, 'vmlinuz');
    writeFileSync(kernel, fakeBzImage({ setupSects: 39, kernelSize: 0xd797c0, initSize: 0x3378000 }));
    const out = await dryRunText(await planKernelLoad({ kernel, kind: 'load', syscall: 'load', cmdline: 'x', dryRun: true, machine: { root } }));
    assert.match(out, /0x100000-0x100fff +0x1000 +0x70 +setup_data EFI/);
    assert.match(out, /EFI runtime map/);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
