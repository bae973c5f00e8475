// Reads sections of the guest probe fixture (fixtures/x86_64-debian-6.1/guest-probe.txt).
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { readPurgatoryObject } from '../../src/host/purgatory-file.ts';

const PROBE = new URL('../../fixtures/x86_64-debian-6.1/guest-probe.txt', import.meta.url);

export function probeSection(name: string): string {
  const text = readFileSync(PROBE, 'utf8');
  const start = text.indexOf(`===${name}\n`);
  if (start < 0) throw new Error(`no section ${name} in the guest probe`);
  const body = text.slice(start + name.length + 4);
  return body.slice(0, body.indexOf('\n===') + 1);
}

/** The `segment[i].mem/memsz/bufsz` lines of a `kexec -d` section, as numbers. */
export function kexecDebugSegments(section: string): { bufsz: bigint; mem: bigint; memsz: bigint }[] {
  const out: { bufsz: bigint; mem: bigint; memsz: bigint }[] = [];
  for (const m of section.matchAll(/segment\[(\d+)\]\.(bufsz|mem|memsz)\s*= (0x[0-9a-f]+)/g)) {
    const i = Number(m[1]);
    out[i] ??= { bufsz: 0n, mem: 0n, memsz: 0n };
    out[i]![m[2] as 'bufsz' | 'mem' | 'memsz'] = BigInt(m[3]!);
  }
  return out;
}

/** The x86_64 purgatory object, built from purgatory/ first when dist/ does not have it yet. */
export function purgatory(): Uint8Array {
  if (!readPurgatoryObject()) execFileSync('make', ['-s', '-C', 'purgatory', 'OUT=../dist']);
  return readPurgatoryObject()!;
}
