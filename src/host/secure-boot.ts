// The machine's Secure Boot state and signature databases, as the firmware and shim left them:
// SecureBoot, db and dbx from efivarfs, MokListRT and MokListXRT from /sys/firmware/efi/mok-variables
// (or efivarfs), and the kernel's lockdown mode. What a UKI must be verified against.
import { X509Certificate } from 'node:crypto';
import { ParseError } from '../errors.ts';
import { parseEfiSignatureLists, type EfiSignatures } from '../format/efi-signature-list.ts';
import type { Trust } from './authenticode-verify.ts';
import { readBytes, readText } from './machine-files.ts';

const EFIVARS = '/sys/firmware/efi/efivars';
const MOK_VARIABLES = '/sys/firmware/efi/mok-variables';
const GLOBAL_GUID = '8be4df61-93ca-11d2-aa0d-00e098032b8c';
const IMAGE_SECURITY_GUID = 'd719b2cb-3d3a-4596-a3bc-dad00e67656f';
const SHIM_GUID = '605dab50-e046-4300-abb6-3dd810dd8b23';
/** efivarfs files start with the variable's 4 attribute bytes. */
const EFIVARFS_ATTRIBUTES = 4;

export interface MachineTrust extends Trust {
  /** The SecureBoot variable (undefined: not an EFI boot, or not readable). */
  secureBoot: boolean | undefined;
  /** /sys/kernel/security/lockdown's selected mode (none, integrity, confidentiality). */
  lockdown: string | undefined;
  /** Which databases were read and what they held, one line each ("db: 2 certificates"). */
  sources: string[];
  /** Databases that could not be read (damaged). */
  problems: string[];
}

/** A variable's data: from mok-variables (raw) when given and present, else efivarfs (attributes stripped). */
function variable(root: string, name: string, guid: string, mokName?: string): Uint8Array | undefined {
  const raw = mokName ? readBytes(root, `${MOK_VARIABLES}/${mokName}`) : undefined;
  if (raw) return raw;
  const v = readBytes(root, `${EFIVARS}/${name}-${guid}`);
  return v && v.length >= EFIVARFS_ATTRIBUTES ? v.subarray(EFIVARFS_ATTRIBUTES) : undefined;
}

/** Reads the machine's Secure Boot state and its db/MokListRT (anchors) and dbx/MokListXRT (revocations). */
export function readMachineTrust(root: string): MachineTrust {
  const sources: string[] = [];
  const problems: string[] = [];
  const db = (name: string, guid: string, mokName?: string): EfiSignatures | undefined => {
    const data = variable(root, name, guid, mokName);
    if (!data) return undefined;
    try {
      const s = parseEfiSignatureLists(data, name);
      sources.push(`${name}: ${s.x509.length} certificates, ${s.sha256.length} sha256 digests${s.other ? `, ${s.other} other entries` : ''}`);
      return s;
    } catch (e) {
      if (!(e instanceof ParseError)) throw e;
      problems.push(e.message);
      return undefined;
    }
  };
  const certs = (list: (EfiSignatures | undefined)[], what: string) =>
    list.flatMap((s) =>
      (s?.x509 ?? []).flatMap((der) => {
        try {
          return [new X509Certificate(Buffer.from(der))];
        } catch (e) {
          problems.push(`${what}: a certificate node:crypto cannot read: ${(e as Error).message}`);
          return [];
        }
      }),
    );
  const allow = [db('db', IMAGE_SECURITY_GUID), db('MokListRT', SHIM_GUID, 'MokListRT')];
  const deny = [db('dbx', IMAGE_SECURITY_GUID), db('MokListXRT', SHIM_GUID, 'MokListXRT')];
  const sb = variable(root, 'SecureBoot', GLOBAL_GUID);
  const lockdown = /\[(\w+)\]/.exec(readText(root, '/sys/kernel/security/lockdown') ?? '')?.[1];
  return {
    secureBoot: sb && sb.length >= 1 ? sb[0] === 1 : undefined,
    lockdown,
    anchors: certs(allow, 'db/MokListRT'),
    allowedDigests: allow.flatMap((s) => s?.sha256 ?? []),
    forbiddenDigests: deny.flatMap((s) => s?.sha256 ?? []),
    forbiddenCerts: certs(deny, 'dbx/MokListXRT'),
    sources,
    problems,
  };
}

/** Secure Boot on, or the kernel locked down: only verified images may be booted. */
export const mustVerify = (t: Pick<MachineTrust, 'secureBoot' | 'lockdown'>) => t.secureBoot === true || (t.lockdown !== undefined && t.lockdown !== 'none');
