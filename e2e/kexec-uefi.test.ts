// A UEFI guest (OVMF): kexec-ts -c -l (kexec_load, our zero page and purgatory) + kexec-ts -e boots a
// kernel that still has EFI runtime services (efivarfs lists the firmware's variables) and finds the
// same ACPI RSDP and tables; kexec-tools' kexec -c -l from there is the oracle: the zero page it
// builds carries the same efi_info, ACPI RSDP and e820 as ours. From that kernel kexec-ts -p + a crash:
// the capture kernel has EFI and ACPI too. One guest, one suite (bookworm by default).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BootParams } from '../src/format/bzimage.ts';
import { readStruct } from '../src/format/struct.ts';
import { EfiInfo } from '../src/kexec/arch/x86_64/efi.ts';
import { runScenario } from './harness/scenario.ts';
import { suites } from './harness/host.ts';
import { cannotRun, orSkipOnDownload, recordTimings, timingSummary } from './harness/testing.ts';
import { kexecUefi } from './uefi-scenarios.ts';

const log = process.env.E2E_VERBOSE ? (s: string) => process.stderr.write(s + '\n') : undefined;
const all = suites();
const suite = all.includes('bookworm') ? 'bookworm' : all[0];

test(`e2e UEFI ${suite ?? '(no suite)'}: kexec-ts -c -l + -e and kexec-ts -p keep EFI runtime services and ACPI; kexec-tools passes the same efi_info, RSDP and e820`, async (t) => {
  if (cannotRun(t, { referenceTools: true }) || !suite) return;
  await orSkipOnDownload(t, async () => {
    const r = await runScenario({ ...(await kexecUefi(suite)), ...(log ? { log } : {}) });
    assert.match(r.marker('second', 'cmdline').value, /e2e\.stage=second e2e\.via=kexec-ts(\s|$)/);
    assert.match(r.marker('third', 'cmdline').value, /e2e\.stage=third e2e\.via=kexec-tools(\s|$)/);
    assert.deepEqual([r.marker('third', 'crash-unloaded').value, r.marker('third', 'crash-loaded').value], ['0', '1'], 'kexec-ts -p -u unloads, -p loads again');
    const first = (name: string) => r.marker('first', name).value;
    assert.match(first('efi'), /runtime-map/);
    assert.ok(Number(first('efivars')) > 0, `the firmware lists EFI variables in the first kernel: ${first('efivars')}`);
    assert.match(first('rsdp'), /^ACPI: RSDP 0x[0-9A-F]+$/);
    for (const stage of ['second', 'third', 'capture']) {
      const m = (name: string) => r.marker(stage, name).value;
      assert.match(m('efi'), /runtime-map/, `${stage}: /sys/firmware/efi`);
      assert.equal(m('efivars'), first('efivars'), `${stage}: EFI runtime services list the same variables`);
      assert.equal(m('rsdp'), first('rsdp'), `${stage}: the same ACPI RSDP`);
      assert.equal(m('acpi-tables'), first('acpi-tables'), `${stage}: the same ACPI tables`);
      assert.equal(r.marker(stage, 'boot').value, r.kernel.release);
    }
    // The zero pages the second kernel got (from kexec-ts) and the third (from kexec-tools).
    const bp = (stage: string) => readStruct(BootParams, new Uint8Array(r.disk.readFile(`bp-${stage}.bin`)));
    const [booted, ours, theirs, capture] = [bp('first'), bp('second'), bp('third'), bp('capture')];
    t.diagnostic(`first kernel's boot_params.acpi_rsdp_addr ${booted.acpi_rsdp_addr.toString(16)} (0: taken from /sys/firmware/efi/systab)`);
    assert.notEqual(ours.acpi_rsdp_addr, 0n);
    assert.equal(ours.acpi_rsdp_addr, theirs.acpi_rsdp_addr, 'acpi_rsdp_addr');
    assert.deepEqual(ours.efi_info, theirs.efi_info, 'efi_info (EL64, systab, runtime map of 40-byte descriptors at the same address)');
    assert.deepEqual([ours.e820_entries, ours.e820_table], [theirs.e820_entries, theirs.e820_table], 'e820');
    assert.equal(ours.orig_video_isVGA, booted.orig_video_isVGA, 'screen_info: the firmware framebuffer');
    // The capture kernel (kexec-ts -p): the same EFI system table and runtime map size, its copy of the
    // map inside the crash kernel region, the same RSDP.
    const efi = (b: typeof ours) => readStruct(EfiInfo, b.efi_info);
    const [capEfi, ourEfi] = [efi(capture), efi(ours)];
    assert.deepEqual([capEfi.efi_loader_signature, capEfi.efi_systab, capEfi.efi_memdesc_size, capEfi.efi_memmap_size], [ourEfi.efi_loader_signature, ourEfi.efi_systab, ourEfi.efi_memdesc_size, ourEfi.efi_memmap_size]);
    assert.notEqual(capEfi.efi_memmap, ourEfi.efi_memmap, 'the capture kernel reads its EFI map from the crash region');
    assert.equal(capture.acpi_rsdp_addr, ours.acpi_rsdp_addr);
    const toInit = (from: string, to: string) => (r.marker(to, 'boot').hostMs - r.marker(from, 'kexec-e').hostMs) / 1000;
    const rec = recordTimings(r, 'kexec-uefi', { kexecTsToInitS: toInit('first', 'second'), kexecToInitS: toInit('second', 'third'), firmwareToInitS: r.marker('first', 'boot').hostMs / 1000 });
    for (const line of timingSummary(r).split('\n')) t.diagnostic(line);
    t.diagnostic(`-e -> next /init: kexec-ts ${rec.extra!.kexecTsToInitS!.toFixed(1)} s, kexec-tools ${rec.extra!.kexecToInitS!.toFixed(1)} s; QEMU start -> first /init through OVMF ${rec.extra!.firmwareToInitS!.toFixed(1)} s`);
    r.cleanup();
  });
});
