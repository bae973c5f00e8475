// One crash-region rule (issue 11): the highest "Crash kernel" reservation is the region, and each
// architecture's loader takes it from where its table says (x86_64/arm64: the kdump side; IA-64: iomem).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { crashKernelRanges, mainCrashRegion, memoryMapFromIomem, parseIomem } from '../../src/kexec/memory-map.ts';
import { crashRegion, usableRanges, type PlanInput } from '../../src/kexec/plan.ts';
import { reservedCrashRegions } from '../../src/kdump/crashkernel.ts';

// crashkernel=512M,high with its 256M ,low part.
const IOMEM = `00001000-0009ffff : System RAM
00100000-7fffffff : System RAM
  10000000-1fffffff : Crash kernel
100000000-17fffffff : System RAM
  150000000-16fffffff : Crash kernel
`;

const input = (crash?: PlanInput['crash']): PlanInput => ({
  image: new Uint8Array(0),
  imageName: 'k',
  cmdline: '',
  kind: 'crash',
  memory: memoryMapFromIomem(IOMEM),
  ...(crash ? { crash } : {}),
});

test('crash region: the highest "Crash kernel" reservation (,high above ,low) for the loaders and the kdump side alike', () => {
  const tree = parseIomem(IOMEM);
  assert.deepEqual(mainCrashRegion(crashKernelRanges(tree)), { start: 0x150000000n, end: 0x16fffffffn });
  assert.deepEqual(reservedCrashRegions(tree).main, { start: 0x150000000n, end: 0x16fffffffn, size: 0x20000000n });
  assert.equal(mainCrashRegion([]), undefined);
});

test('crash region: x86_64 and arm64 stay in the kdump side\'s region, IA-64 in the map\'s; none is one error with the arch\'s advice', () => {
  const hook = { region: [{ start: 0x150000000n, end: 0x15fffffffn }], addSegments: () => ({}) };
  for (const arch of ['x86_64', 'arm64'] as const) {
    assert.deepEqual(crashRegion(input(hook), arch), hook.region);
    assert.deepEqual(usableRanges(input(hook), [], arch), [{ start: 0x150000000n, end: 0x15fffffffn, type: 'ram' }]);
    assert.throws(() => crashRegion(input(), arch), (e: Error & { hint?: string }) => e.message === 'no crash kernel region' && e.hint === 'boot with crashkernel=256M (or more) to reserve one');
  }
  assert.deepEqual(crashRegion(input({ region: [], addSegments: () => ({}) }), 'ia64'), [{ start: 0x150000000n, end: 0x16fffffffn }]);
  const none = { ...input(), memory: memoryMapFromIomem('00100000-7fffffff : System RAM\n') };
  assert.throws(() => crashRegion(none, 'ia64'), (e: Error & { hint?: string }) => e.message === 'no crash kernel region in /proc/iomem' && /64 MiB-aligned/.test(e.hint ?? ''));
});
