// Real UKIs for the tests, built at test time the way the UKI specification describes ("a relatively
// simple objcopy invocation") on systemd's own stub (Debian systemd-boot-efi), signed with sbsign
// (sbsigntool) with throwaway keys made by openssl. systemd-ukify is not in Debian bookworm, so
// objcopy places the sections; sbverify is the oracle for every signature verdict.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';

export const STUB = '/usr/lib/systemd/boot/efi/linuxx64.efi.stub';
const TOOLS = ['objcopy', 'objdump', 'sbsign', 'sbverify', 'openssl'];

const have = (tool: string) => spawnSync('sh', ['-c', `command -v ${tool}`]).status === 0;

/** Why the UKI tests cannot run here (undefined when they can). */
export function ukiToolsMissing(): string | undefined {
  const missing = TOOLS.filter((t) => !have(t));
  if (!existsSync(STUB)) missing.push(`${STUB} (systemd-boot-efi)`);
  return missing.length ? `missing ${missing.join(', ')}: run scripts/install-test-deps.sh` : undefined;
}

/** systemd's ukify and its stubs: installed (systemd-ukify, trixie and later), else unpacked by scripts/fetch-ukify.ts. */
export interface Ukify {
  run(args: string[]): void;
  linuxStub: string;
  addonStub: string;
}

export function findUkify(): Ukify | string {
  const cached = join(process.env.KEXEC_TS_CACHE || join(homedir(), '.cache/kexec-ts'), 'ukify/root');
  const prefix = have('ukify') ? '' : existsSync(join(cached, 'usr/lib/systemd/ukify')) ? cached : undefined;
  if (prefix === undefined) return 'ukify not installed (Debian systemd-ukify; on bookworm run: node --import tsx scripts/fetch-ukify.ts)';
  if (!have('python3')) return 'python3 not installed (ukify is a Python program)';
  const env = prefix ? { ...process.env, PYTHONPATH: join(prefix, 'usr/lib/python3/dist-packages') } : process.env;
  const cmd = prefix ? ['python3', join(prefix, 'usr/lib/systemd/ukify')] : ['ukify'];
  const stubs = join(prefix || '/', 'usr/lib/systemd/boot/efi');
  return {
    run: (args) => void execFileSync(cmd[0]!, [...cmd.slice(1), ...args], { env, stdio: ['ignore', 'ignore', 'pipe'] }),
    linuxStub: join(stubs, 'linuxx64.efi.stub'),
    addonStub: join(stubs, 'addonx64.efi.stub'),
  };
}

/** The cached trixie kernel (a real bzImage) when there is one, else undefined. */
export function cachedKernel(): string | undefined {
  const base = join(homedir(), '.cache/kexec-ts/kernels/trixie');
  if (!existsSync(base)) return undefined;
  for (const v of readdirSync(base)) {
    const boot = join(base, v, 'root/boot');
    const k = existsSync(boot) ? readdirSync(boot).find((n) => n.startsWith('vmlinuz-')) : undefined;
    if (k) return join(boot, k);
  }
  return undefined;
}

export interface Section {
  name: string;
  /** A file path, or the contents. */
  file?: string;
  text?: string;
  bytes?: Uint8Array;
}

export interface Keys {
  key: string;
  cert: string;
}

export class UkiBuilder {
  readonly dir = mkdtempSync(join(tmpdir(), 'kexec-ts-uki-'));
  private n = 0;

  /** A file in the work directory. */
  path(name: string): string {
    return join(this.dir, name);
  }

  /** A self-signed certificate and key (PEM), like a db or MOK key; `ec` for P-256 instead of RSA 2048; `ca` marks it a CA. */
  key(name: string, opts: { ec?: boolean; ca?: boolean } = {}): Keys {
    const key = this.path(`${name}.key`);
    const cert = this.path(`${name}.crt`);
    const alg = opts.ec ? ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1'] : ['-newkey', 'rsa:2048'];
    const ca = opts.ca ? ['-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,digitalSignature'] : [];
    execFileSync('openssl', ['req', '-new', '-x509', ...alg, ...ca, '-nodes', '-subj', `/CN=kexec-ts test ${name}/`, '-days', '3650', '-keyout', key, '-out', cert], { stdio: 'ignore' });
    return { key, cert };
  }

  /** A key and certificate issued by `issuer` (a CA itself when `ca`). */
  issued(name: string, issuer: Keys, opts: { ca?: boolean } = {}): Keys {
    const key = this.path(`${name}.key`);
    const cert = this.path(`${name}.crt`);
    const csr = this.path(`${name}.csr`);
    const ext = this.path(`${name}.ext`);
    writeFileSync(ext, opts.ca ? 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,digitalSignature\n' : 'basicConstraints=CA:FALSE\n');
    execFileSync('openssl', ['req', '-new', '-newkey', 'rsa:2048', '-nodes', '-subj', `/CN=kexec-ts test ${name}/`, '-keyout', key, '-out', csr], { stdio: 'ignore' });
    execFileSync('openssl', ['x509', '-req', '-in', csr, '-CA', issuer.cert, '-CAkey', issuer.key, '-CAcreateserial', '-days', '3650', '-extfile', ext, '-out', cert], { stdio: 'ignore' });
    return { key, cert };
  }

  /**
   * The stub with these sections appended in this order (duplicates allowed: `.profile`, a profile's
   * `.cmdline`), each at its own page-aligned address past the stub's, as objcopy-built UKIs are.
   */
  pe(out: string, sections: readonly Section[]): string {
    const args: string[] = [];
    const rename: string[] = [];
    let vma = 0x100000;
    sections.forEach((s, i) => {
      const file = s.file ?? this.path(`sec${this.n++}.bin`);
      if (!s.file) writeFileSync(file, s.bytes ?? new TextEncoder().encode(s.text ?? ''));
      const tmp = `.s${i}`;
      args.push('--add-section', `${tmp}=${file}`, '--change-section-vma', `${tmp}=0x${vma.toString(16)}`, '--set-section-flags', `${tmp}=data,readonly`);
      rename.push('--rename-section', `${tmp}=${s.name}`);
      vma += (statSync(file).size + 0xfff) & ~0xfff;
    });
    const tmpOut = `${out}.tmp`;
    execFileSync('objcopy', [...args, STUB, tmpOut]);
    execFileSync('objcopy', [...rename, tmpOut, out]);
    return out;
  }

  /** sbsign; `addcert`: intermediate certificates (PEM) to put in the signature. */
  sign(input: string, keys: Keys, out: string, addcert?: string): string {
    execFileSync('sbsign', ['--key', keys.key, '--cert', keys.cert, ...(addcert ? ['--addcert', addcert] : []), '--output', out, input], { stdio: 'ignore' });
    return out;
  }

  /** sbverify's verdict: true when it says "Signature verification OK". */
  static sbverify(file: string, cert: string): boolean {
    return spawnSync('sbverify', ['--cert', cert, file], { stdio: 'ignore' }).status === 0;
  }

  /** objdump -h: [name, size, file offset] per section, in table order. */
  static objdumpSections(file: string): [string, number, number][] {
    const text = execFileSync('objdump', ['-h', file], { encoding: 'utf8' });
    return [...text.matchAll(/^\s*\d+\s+(\S+)\s+([0-9a-f]+)\s+[0-9a-f]+\s+[0-9a-f]+\s+([0-9a-f]+)/gm)].map((m) => [m[1]!, parseInt(m[2]!, 16), parseInt(m[3]!, 16)]);
  }

  mkdir(rel: string): string {
    const p = this.path(rel);
    mkdirSync(p, { recursive: true });
    return p;
  }
}
