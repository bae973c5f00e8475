// How `kexec-ts boot` checks UKIs: against the certificates given (--cert) and the machine's db /
// MokListRT (dbx / MokListXRT revoking), required when a certificate is given, Secure Boot is on or
// the kernel is locked down. The check is src/host/authenticode-verify.ts; src/boot/uki.ts uses it.
import { readFileSync } from 'node:fs';
import type { ImageTrust } from '../boot/uki.ts';
import { ParseError } from '../errors.ts';
import { parsePe } from '../format/pe.ts';
import { readCertificates, verifyAuthenticode, type Trust } from './authenticode-verify.ts';
import { mustVerify, readMachineTrust } from './secure-boot.ts';

/** The image trust for the machine under `root`; undefined when there is nothing to check against and nothing requires it. */
export function hostImageTrust(root: string, certFiles: readonly string[] = []): ImageTrust | undefined {
  const machine = readMachineTrust(root);
  const given = certFiles.flatMap((f) => readCertificates(readFileSync(f), f));
  const trust: Trust = { ...machine, anchors: [...given, ...machine.anchors] };
  const required = certFiles.length > 0 || mustVerify(machine);
  const sources = [...certFiles.map((f) => `--cert ${f}`), ...machine.sources, ...machine.problems.map((p) => `unusable: ${p}`)];
  if (!required && trust.anchors.length === 0 && !trust.allowedDigests?.length) return undefined;
  return {
    required,
    sources,
    verify(bytes, path) {
      try {
        return verifyAuthenticode(bytes, parsePe(bytes, path), trust, path);
      } catch (e) {
        if (e instanceof ParseError) return { status: 'mismatch', reason: `not a PE image: ${e.message}` };
        throw e;
      }
    },
  };
}
