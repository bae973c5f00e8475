// A copy of a boot fixture root (test/fixtures/boot/…) made loadable: its kernel stand-ins replaced by
// synthetic bzImages, and the running machine's files a load reads (/proc/iomem of the recorded guest,
// boot_id, kexec_loaded, lockdown, the SecureBoot and db EFI variables) as the test asks.
import { cpSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { probeSection } from '../kexec/fixture.ts';
import { fakeBzImage } from '../kexec/synthetic.ts';

/** A small bzImage (2 MiB kernel, 8 MiB init_size): enough for both syscalls' plans. */
export const SMALL_KERNEL = () => fakeBzImage({ setupSects: 39, kernelSize: 0x200000, initSize: 0x800000 });

export const GLOBAL_GUID = '8be4df61-93ca-11d2-aa0d-00e098032b8c';
export const IMAGE_SECURITY_GUID = 'd719b2cb-3d3a-4596-a3bc-dad00e67656f';

export interface RootOptions {
  /** Paths (as on the machine) of kernels to replace with SMALL_KERNEL. */
  kernels?: string[];
  /** Files to write (machine path -> contents). */
  files?: Record<string, string | Uint8Array>;
  lockdown?: string;
  secureBoot?: boolean;
  bootId?: string;
  kexecLoaded?: boolean;
}

export function put(root: string, path: string, data: string | Uint8Array): void {
  mkdirSync(dirname(join(root, path)), { recursive: true });
  writeFileSync(join(root, path), data);
}

/** A fresh copy of test/fixtures/boot/NAME (or an empty root when NAME is undefined). */
export function bootRoot(name: string | undefined, o: RootOptions = {}): string {
  const root = mkdtempSync(join(tmpdir(), 'kexec-ts-bootroot-'));
  if (name) cpSync(join('test/fixtures/boot', name), root, { recursive: true, verbatimSymlinks: true });
  put(root, '/proc/iomem', probeSection('IOMEM'));
  put(root, '/proc/sys/kernel/random/boot_id', `${o.bootId ?? '11111111-2222-3333-4444-555555555555'}\n`);
  put(root, '/sys/kernel/kexec_loaded', o.kexecLoaded ? '1\n' : '0\n');
  if (o.lockdown) put(root, '/sys/kernel/security/lockdown', ['none', 'integrity', 'confidentiality'].map((m) => (m === o.lockdown ? `[${m}]` : m)).join(' ') + '\n');
  if (o.secureBoot !== undefined) put(root, `/sys/firmware/efi/efivars/SecureBoot-${GLOBAL_GUID}`, new Uint8Array([6, 0, 0, 0, o.secureBoot ? 1 : 0]));
  for (const k of o.kernels ?? []) put(root, k, SMALL_KERNEL());
  for (const [p, d] of Object.entries(o.files ?? {})) put(root, p, d);
  return root;
}

/** An efivarfs db variable holding these DER certificates (one EFI_SIGNATURE_LIST each, as cert-to-efi-sig-list writes). */
export function dbVariable(ders: Uint8Array[]): Uint8Array {
  const guid = (g: string) => {
    const h = g.replace(/-/g, '');
    const b = Uint8Array.from(h.match(/../g)!.map((x) => parseInt(x, 16)));
    return new Uint8Array([b[3]!, b[2]!, b[1]!, b[0]!, b[5]!, b[4]!, b[7]!, b[6]!, ...b.subarray(8)]);
  };
  const parts: Uint8Array[] = [new Uint8Array([7, 0, 0, 0])];
  for (const der of ders) {
    const l = new Uint8Array(28 + 16 + der.length);
    const v = new DataView(l.buffer);
    l.set(guid('a5c059a1-94e4-4aa7-87b5-ab155c2bf072'), 0);
    v.setUint32(16, l.length, true);
    v.setUint32(20, 0, true);
    v.setUint32(24, 16 + der.length, true);
    l.set(guid('00000000-0000-0000-0000-00000000abcd'), 28);
    l.set(der, 44);
    parts.push(l);
  }
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  parts.reduce((at, p) => (out.set(p, at), at + p.length), 0);
  return out;
}
