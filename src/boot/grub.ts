// GRUB's grub.cfg evaluated the way GRUB runs it, for the subset distributions generate
// (Debian's 00_header/10_linux/30_os-prober, Fedora's blscfg): set/unset/export, load_env,
// search --fs-uuid/--label/--file (and search.fs_uuid …), insmod and the display commands (no-ops),
// [ … ] tests, if/for/while, functions, menuentry/submenu/hiddenentry, linux/linuxefi/linux16,
// initrd/initrdefi/initrd16 (several files), devicetree, blscfg, source; configfile and every other
// command are reported with FILE:LINE, not guessed. Then GRUB's `default` (number, title, id,
// "A>B" submenu paths) is resolved on the menu that evaluation built, as grub-core/normal/menu.c does.
// GRUB manual: "Shell-like scripting", "Menu entry", "default", "Environment block", "search".
import { ParseError } from '../errors.ts';
import { blsToBoot, compareBls, isRejected, parseBlsEntry } from './bls.ts';
import { bareWord, lex, parseGrubScript, type Command, type Word } from './grub-script.ts';
import { parseGrubenv } from './grubenv.ts';
import { mountOf, onFileSystem, onMount, text, type BootEntry, type BootMachine, type BootOnce, type EntrySource, type Mount, type Rejected, type SourceResult } from './model.ts';

export const GRUB_CONFIGS = ['/boot/grub/grub.cfg', '/boot/grub2/grub.cfg'];

/** Something the evaluator does not evaluate: reported at FILE:LINE, never guessed. */
class Unsupported extends Error {
  readonly where: string;
  constructor(message: string, where: string) {
    super(message);
    this.where = where;
  }
}

interface Boot {
  kernel?: string;
  args: string[];
  initrds: string[];
  devicetree?: string;
  /** A command that boots something other than a Linux kernel (chainloader, fwsetup, multiboot). */
  other?: string;
}

type MenuItem =
  | { kind: 'entry'; title: string; id?: string; hidden: boolean; where: string; body: Command[]; file: string; positional: string[] }
  | { kind: 'bls'; title: string; id: string; where: string; path: string; body: string }
  | { kind: 'submenu'; title: string; id?: string; where: string; body: Command[]; file: string; positional: string[]; items: MenuItem[] };

interface Scope {
  vars: Map<string, string>;
  exported: Set<string>;
  /** Where each variable was last set ("grub.cfg:14"). */
  setAt: Map<string, string>;
  menu: MenuItem[];
}

const NOOP = new Set([
  'insmod', 'echo', 'serial', 'terminal_input', 'terminal_output', 'terminal', 'loadfont', 'font', 'background_image', 'background_color',
  'play', 'sleep', 'clear', 'gettext', 'set_background_color', 'true', 'rmmod', 'videoinfo',
]);
const NOT_LINUX = new Set(['chainloader', 'multiboot', 'multiboot2', 'module', 'module2', 'fwsetup', 'reboot', 'halt', 'exit', 'appleloader', 'kfreebsd', 'knetbsd', 'kopenbsd', 'legacy_configfile']);
/** GRUB 2's feature_* variables (set by normal.mod for the features every GRUB 2.02+ has). */
const FEATURES = ['feature_chainloader_bpb', 'feature_ntldr', 'feature_platform_search_hint', 'feature_default_font_path', 'feature_all_video_module', 'feature_menuentry_id', 'feature_menuentry_options', 'feature_200_final', 'feature_nativedisk_cmd', 'feature_timeout_style'];
const MAX_LOOP = 1000;
/** How deep function calls and `source` may nest (GRUB's own limit is its stack). */
const MAX_DEPTH = 32;

/** Evaluates one grub.cfg on a machine; see the file comment. */
export class GrubEvaluator {
  readonly notes: string[] = [];
  /** Device names (GRUB's root variable) to mountpoints; a failed search maps to its failure. */
  private readonly devices = new Map<string, { mounts?: Mount[]; failure?: string }>();
  private readonly functions = new Map<string, Command[]>();
  private positional: string[] = [];
  private status = 0;
  private boot: Boot | undefined;
  private scope: Scope;
  private depth = 0;
  grubenv: Map<string, string> | undefined;
  /** Where the environment was loaded from (machine path). */
  grubenvPath: string | undefined;
  /** `save_env` outside menu entries: what GRUB writes to the environment block on every boot, in order. */
  readonly envWrites: { path: string; name: string; value: string | undefined; at: string }[] = [];

  private readonly m: BootMachine;
  readonly configPath: string;

  constructor(m: BootMachine, configPath: string) {
    this.m = m;
    this.configPath = configPath;
    const mount = mountOf(m.mounts, configPath);
    const root = this.device(mount);
    const dir = configPath.slice(0, configPath.lastIndexOf('/'));
    const rel = mount.mountpoint === '/' ? dir : dir.slice(mount.mountpoint.length) || '/';
    this.scope = { vars: new Map(), exported: new Set(), setAt: new Map(), menu: [] };
    const init: [string, string][] = [
      ['root', root],
      ['prefix', `(${root})${rel}`],
      ['config_directory', `(${root})${rel}`],
      ['config_file', `(${root})${configPath.slice(mount.mountpoint === '/' ? 0 : mount.mountpoint.length)}`],
      ['grub_platform', m.platform],
      ['grub_cpu', m.platform === 'efi' ? (m.arch === 'aa64' ? 'arm64' : m.arch === 'ia32' ? 'i386' : 'x86_64') : 'i386'],
      ...FEATURES.map((f) => [f, 'y'] as [string, string]),
    ];
    for (const [k, v] of init) this.scope.vars.set(k, v);
    for (const k of ['root', 'prefix']) this.scope.exported.add(k);
  }

  /** GRUB's name for a mounted file system (ours: "mount:/boot"); every mount of the same file system (btrfs subvolumes) belongs to it. */
  private device(mount: Mount): string {
    const name = `mount:${mount.mountpoint}`;
    const same = (m: Mount) => m === mount || (!!mount.uuid && m.uuid === mount.uuid) || (!!mount.label && m.label === mount.label);
    this.devices.set(name, { mounts: [mount, ...this.m.mounts.filter((m) => m !== mount && same(m))] });
    return name;
  }

  /** Runs the whole file; returns the top-level menu. */
  run(src: string): MenuItem[] {
    const cmds = parseGrubScript(src, this.configPath);
    this.list(cmds, this.configPath, true);
    return this.scope.menu;
  }

  get vars(): ReadonlyMap<string, string> {
    return this.scope.vars;
  }
  setWhere(name: string): string | undefined {
    return this.scope.setAt.get(name);
  }

  // ---- words ----

  private get(name: string): string {
    if (name === '?') return String(this.status);
    if (name === '#') return String(this.positional.length);
    if (name === '@' || name === '*') return this.positional.join(' ');
    if (/^[0-9]+$/.test(name)) return name === '0' ? '' : (this.positional[Number(name) - 1] ?? '');
    return this.scope.vars.get(name) ?? '';
  }

  /** Expands words into arguments: quoted parts stay whole, unquoted variables split at white space. */
  expand(words: readonly Word[]): string[] {
    const out: string[] = [];
    for (const w of words) {
      let cur = '';
      let has = false;
      for (const part of w.parts) {
        if (part.kind === 'text') {
          cur += part.text;
          has ||= part.quoted || part.text !== '';
        } else if (part.quoted) {
          cur += this.get(part.name);
          has = true;
        } else {
          const fields = this.get(part.name).split(/[ \t\n]+/);
          fields.forEach((f, k) => {
            if (k > 0) {
              if (has || cur) out.push(cur);
              cur = '';
              has = false;
            }
            cur += f;
            has ||= f !== '';
          });
        }
      }
      if (has || cur) out.push(cur);
    }
    return out;
  }

  // ---- commands ----

  private list(cmds: readonly Command[], file: string, topLevel: boolean): void {
    for (const c of cmds) {
      if (!topLevel) {
        this.command(c, file);
        continue;
      }
      try {
        this.command(c, file);
      } catch (e) {
        if (!(e instanceof Unsupported)) throw e;
        this.notes.push(`${e.where}: ${e.message}: not evaluated (the rest of the file is)`);
        this.status = 1;
      }
    }
  }

  private where(file: string, line: number): string {
    return `${file}:${line}`;
  }

  private command(c: Command, file: string): void {
    const at = this.where(file, c.line);
    switch (c.kind) {
      case 'if': {
        for (const b of c.branches) {
          this.list(b.cond, file, false);
          if (this.status === 0) return this.list(b.body, file, false);
        }
        if (c.otherwise) this.list(c.otherwise, file, false);
        else this.status = 0;
        return;
      }
      case 'for':
        for (const v of this.expand(c.items)) {
          this.set(c.name, v, at);
          this.list(c.body, file, false);
        }
        return;
      case 'while': {
        for (let n = 0; ; n++) {
          if (n >= MAX_LOOP) throw new Unsupported(`${c.until ? 'until' : 'while'} loop ran ${MAX_LOOP} times`, at);
          this.list(c.cond, file, false);
          if ((this.status === 0) === c.until) break;
          this.list(c.body, file, false);
        }
        this.status = 0;
        return;
      }
      case 'function':
        this.functions.set(c.name, c.body);
        this.status = 0;
        return;
      case 'menu':
        return this.menu(c, file, at);
      case 'simple':
        return this.simple(c.words, file, at);
    }
  }

  private set(name: string, value: string, at: string): void {
    this.scope.vars.set(name, value);
    this.scope.setAt.set(name, at);
  }

  private menu(c: Extract<Command, { kind: 'menu' }>, file: string, at: string): void {
    const args = this.expand(c.args);
    let id: string | undefined;
    const rest: string[] = [];
    for (let i = 0; i < args.length; i++) {
      const a = args[i]!;
      const opt = /^--(class|users|hotkey|id|source)(?:=(.*))?$/s.exec(a);
      if (opt) {
        const value = opt[2] ?? args[++i];
        if (value === undefined) throw new Unsupported(`${c.keyword} option --${opt[1]} without a value`, at);
        if (opt[1] === 'id') id = value;
        continue;
      }
      if (a === '--unrestricted') continue;
      if (a.startsWith('--') && rest.length === 0) throw new Unsupported(`${c.keyword} option ${a} is not one GRUB knows`, at);
      rest.push(a);
    }
    const title = rest[0];
    if (title === undefined) throw new Unsupported(`${c.keyword} without a title`, at);
    // GRUB runs the block after `setparams TITLE ARGS…`: $1 is the title, $2… the extra arguments.
    const positional = rest;
    const common = { title, ...(id !== undefined ? { id } : {}), where: at, body: c.body, file, positional };
    if (c.keyword === 'submenu') this.scope.menu.push({ kind: 'submenu', ...common, items: [] });
    else this.scope.menu.push({ kind: 'entry', ...common, hidden: c.keyword === 'hiddenentry' });
    this.status = 0;
  }

  private simple(words: readonly Word[], file: string, at: string): void {
    if (words.length === 0) return;
    // NAME=VALUE as a command (GRUB accepts assignments without `set`).
    const first = words[0]!.parts[0];
    if (first?.kind === 'text' && !first.quoted && /^[A-Za-z_][A-Za-z0-9_]*=/.test(first.text)) {
      const [word] = this.expandJoined(words[0]!);
      const eq = word.indexOf('=');
      this.set(word.slice(0, eq), word.slice(eq + 1), at);
      this.status = 0;
      if (words.length > 1) throw new Unsupported('an assignment followed by a command', at);
      return;
    }
    const argv = this.expand(words);
    if (argv.length === 0) return;
    const [cmd, ...args] = argv as [string, ...string[]];
    this.status = 0;
    const fn = this.functions.get(cmd);
    if (fn) {
      if (this.depth >= MAX_DEPTH) throw new Unsupported(`${cmd}: functions and source nested more than ${MAX_DEPTH} deep`, at);
      const saved = this.positional;
      this.positional = args;
      this.depth++;
      try {
        this.list(fn, file, false);
      } finally {
        this.positional = saved;
        this.depth--;
      }
      return;
    }
    switch (cmd) {
      case 'set':
        for (const a of args) {
          const eq = a.indexOf('=');
          if (eq > 0) this.set(a.slice(0, eq), a.slice(eq + 1), at);
        }
        return;
      case 'unset':
        for (const a of args) this.scope.vars.delete(a);
        return;
      case 'export':
        for (const a of args) this.scope.exported.add(a);
        return;
      case 'false':
        this.status = 1;
        return;
      case '[':
        if (args[args.length - 1] !== ']') throw new Unsupported("'[' without a closing ']'", at);
        this.status = this.test(args.slice(0, -1), at) ? 0 : 1;
        return;
      case 'test':
        this.status = this.test(args, at) ? 0 : 1;
        return;
      case 'search':
      case 'search.fs_uuid':
      case 'search.fs_label':
      case 'search.file':
        return this.search(cmd, args, at);
      case 'load_env':
        return this.loadEnv(args, at);
      case 'save_env':
        return this.saveEnv(args, at);
      case 'source':
        return this.source(args, at);
      case 'configfile':
        throw new Unsupported(`configfile ${args.join(' ')} (a new menu replaces this one)`, at);
      case 'linux':
      case 'linuxefi':
      case 'linux16':
        return this.linux(args, at);
      case 'initrd':
      case 'initrdefi':
      case 'initrd16':
        if (!this.boot) throw new Unsupported(`${cmd} outside a menu entry`, at);
        this.boot.initrds = args.map((a) => this.file(a, at));
        return;
      case 'devicetree':
        if (!this.boot) throw new Unsupported('devicetree outside a menu entry', at);
        if (args[0] === undefined) throw new Unsupported('devicetree without a file', at);
        this.boot.devicetree = this.file(args[0], at);
        return;
      case 'blscfg':
        return this.blscfg(args, at);
    }
    if (cmd === 'fwsetup' && args[0] === '--is-supported') {
      this.status = this.m.platform === 'efi' ? 0 : 1;
      return;
    }
    if (NOOP.has(cmd)) return;
    if (NOT_LINUX.has(cmd) && this.boot) {
      this.boot.other ??= `${cmd} at ${at}`;
      return;
    }
    throw new Unsupported(`command '${cmd}' is not one kexec-ts evaluates`, at);
  }

  private expandJoined(w: Word): string[] {
    const parts = this.expand([{ ...w, parts: w.parts.map((p) => (p.kind === 'var' ? { ...p, quoted: true } : p)) }]);
    return [parts.join('')];
  }

  // ---- paths ----

  /** A GRUB path ("(dev)/p" or "/p" on $root) as a machine path; an unknown device is Unsupported. */
  file(p: string, at: string): string {
    let dev = this.get('root');
    let path = p;
    const m = /^\(([^)]*)\)(.*)$/.exec(p);
    if (m) {
      dev = m[1]!;
      path = m[2]! || '/';
    }
    dev = dev.replace(/^\((.*)\)$/, '$1');
    const d = this.devices.get(dev);
    if (!d?.mounts) {
      const why = d?.failure ?? `GRUB device '${dev}' is not matched to a mounted file system (GRUB names disks by firmware order; a search --fs-uuid line names them by file system)`;
      throw new Unsupported(`${p}: ${why}`, at);
    }
    return onFileSystem(d.mounts, path);
  }

  private linux(args: string[], at: string): void {
    if (!this.boot) throw new Unsupported('linux outside a menu entry', at);
    if (args[0] === undefined) throw new Unsupported('linux without a kernel file', at);
    this.boot.kernel = this.file(args[0], at);
    // GRUB's linux loader puts the kernel's file name first, as BOOT_IMAGE= (loader/i386/linux.c,
    // loader/efi/linux.c), so a kexec boot gets the command line a firmware boot does. (blscfg
    // entries keep the BLS options alone: GRUB names their kernel by its GRUB device, "(hd0,gpt2)/…".)
    this.boot.args = [`BOOT_IMAGE=${args[0]}`, ...args.slice(1)];
    this.boot.initrds = [];
  }

  private search(cmd: string, args: string[], at: string): void {
    let kind = cmd === 'search.fs_uuid' ? 'fs-uuid' : cmd === 'search.fs_label' ? 'label' : cmd === 'search.file' ? 'file' : 'file';
    let setVar: string | undefined = cmd === 'search' ? undefined : 'root';
    const names: string[] = [];
    for (const a of args) {
      if (a === '--fs-uuid' || a === '-u') kind = 'fs-uuid';
      else if (a === '--label' || a === '-l') kind = 'label';
      else if (a === '--file' || a === '-f') kind = 'file';
      else if (a === '--set' || a === '-s') setVar = 'root';
      else if (a.startsWith('--set=')) setVar = a.slice(6);
      else if (/^--(no-floppy|efidisk-only|cryptodisk-only)$/.test(a) || a.startsWith('--hint')) continue;
      else if (a.startsWith('-')) throw new Unsupported(`search option ${a}`, at);
      else names.push(a);
    }
    // search.fs_uuid NAME [VAR [HINT…]]
    if (cmd !== 'search' && names.length >= 2) setVar = names.splice(1)[0];
    const name = names[0];
    if (name === undefined || names.length > 1) throw new Unsupported(`search ${args.join(' ')}: expected one name`, at);
    const found = this.m.mounts.find((mt) =>
      kind === 'fs-uuid' ? mt.uuid?.toLowerCase() === name.toLowerCase() : kind === 'label' ? mt.label === name : this.m.files.isFile(onFileSystem([mt], name)),
    );
    if (found) {
      if (setVar) this.set(setVar, this.device(found), at);
      return;
    }
    this.status = 1;
    const known = this.m.mounts.map((mt) => `${mt.mountpoint}${mt.uuid ? ` ${mt.uuid}` : ''}${mt.label ? ` "${mt.label}"` : ''}`).join(', ');
    const failure = `search --${kind} ${name} at ${at} found no mounted file system (known: ${known || 'none'})`;
    if (setVar) {
      const devName = `not-found:${kind}=${name}`;
      this.devices.set(devName, { failure });
      this.set(setVar, devName, at);
    }
  }

  /** load_env/save_env's arguments: the environment block (-f FILE, else $prefix/grubenv) and the variable names. */
  private envArgs(args: string[], at: string): { path: string; names: string[] } {
    let fileArg: string | undefined;
    const names: string[] = [];
    for (let i = 0; i < args.length; i++) {
      const a = args[i]!;
      if (a === '-f' || a === '--file') fileArg = args[++i];
      else if (a.startsWith('--file=')) fileArg = a.slice(7);
      else if (a !== '-s' && a !== '--skip-sig') names.push(a);
    }
    return { path: this.file(fileArg ?? `${this.get('prefix')}/grubenv`, at), names };
  }

  private loadEnv(args: string[], at: string): void {
    const { path, names: only } = this.envArgs(args, at);
    const bytes = this.m.files.read(path);
    if (!bytes) {
      this.notes.push(`${at}: load_env: ${path} is missing`);
      this.status = 1;
      return;
    }
    let env: ReturnType<typeof parseGrubenv>;
    try {
      env = parseGrubenv(bytes, path);
    } catch (e) {
      if (!(e instanceof ParseError)) throw e;
      this.notes.push(`${at}: load_env: ${path}: ${e.message}`);
      this.status = 1;
      return;
    }
    this.notes.push(...env.warnings);
    this.grubenv = env.vars;
    this.grubenvPath = path;
    for (const [k, v] of env.vars) if (only.length === 0 || only.includes(k)) this.set(k, v, `${path} (load_env at ${at})`);
  }

  /** save_env [-f FILE] VAR...: recorded at the top level (a menu entry's own, such as savedefault, only runs when it boots). */
  private saveEnv(args: string[], at: string): void {
    if (this.boot) return;
    const { path, names } = this.envArgs(args, at);
    for (const name of names) this.envWrites.push({ path, name, value: this.scope.vars.get(name), at });
  }

  private source(args: string[], at: string): void {
    if (args[0] === undefined) throw new Unsupported('source without a file', at);
    const path = this.file(args[0], at);
    const bytes = this.m.files.read(path);
    if (!bytes) {
      this.status = 1;
      this.notes.push(`${at}: source ${path}: file missing`);
      return;
    }
    if (this.depth >= MAX_DEPTH) throw new Unsupported(`source: functions and source nested more than ${MAX_DEPTH} deep`, at);
    this.depth++;
    try {
      this.list(parseGrubScript(text(bytes), path), path, this.boot === undefined);
    } finally {
      this.depth--;
    }
  }

  /** Fedora's blscfg (GRUB 2.14 upstream: blscfg --path DIR [--enable-fallback]): $blsdir, else /loader/entries then /boot/loader/entries on $root. */
  private blscfg(args: string[], at: string): void {
    let path: string | undefined;
    for (let i = 0; i < args.length; i++) {
      if (args[i] === '--path' || args[i] === '-p') path = args[++i];
      else if (args[i]!.startsWith('--path=')) path = args[i]!.slice(7);
      else if (args[i] === '--enable-fallback' || args[i] === '-f') continue;
      else throw new Unsupported(`blscfg ${args[i]}`, at);
    }
    const blsdir = path ?? this.get('blsdir');
    const dirs = blsdir ? [blsdir, ...(path && args.includes('--enable-fallback') ? ['/boot/loader/entries'] : [])] : ['/loader/entries', '/boot/loader/entries'];
    let dir: string | undefined;
    for (const d of dirs) {
      const machineDir = this.file(d, at);
      if (this.m.files.list(machineDir)) {
        dir = machineDir;
        break;
      }
    }
    if (!dir) {
      this.notes.push(`${at}: blscfg: no ${dirs.join(' or ')} on ${this.get('root')}`);
      return;
    }
    const entries = (this.m.files.list(dir) ?? [])
      .filter((n) => n.endsWith('.conf'))
      .flatMap((n) => {
        const bytes = this.m.files.read(`${dir}/${n}`);
        return bytes ? [{ e: parseBlsEntry(`${dir}/${n}`, text(bytes)), body: text(bytes) }] : [];
      })
      .sort((a, b) => compareBls(a.e, b.e));
    for (const { e, body } of entries) {
      const id = e.id.replace(/\.conf$/, '');
      this.scope.menu.push({ kind: 'bls', title: e.title ?? id, id, where: `${e.path} (blscfg at ${at})`, path: e.path, body });
    }
  }

  // ---- [ … ] ----

  private test(args: string[], at: string): boolean {
    let i = 0;
    const UNARY_FILE = new Set(['-f', '-d', '-e', '-s']);
    const BINARY = new Set(['=', '==', '!=', '<', '>', '<=', '>=', '-eq', '-ne', '-lt', '-le', '-gt', '-ge']);
    const or = (): boolean => {
      let v = and();
      while (args[i] === '-o') {
        i++;
        const r = and();
        v = v || r;
      }
      return v;
    };
    const and = (): boolean => {
      let v = not();
      while (args[i] === '-a') {
        i++;
        const r = not();
        v = v && r;
      }
      return v;
    };
    const not = (): boolean => {
      if (args[i] === '!') {
        i++;
        return !not();
      }
      return primary();
    };
    const primary = (): boolean => {
      const a = args[i];
      if (a === undefined) return false;
      if (a === '(') {
        i++;
        const v = or();
        if (args[i] !== ')') throw new Unsupported(`[ ${args.join(' ')} ]: '(' without ')'`, at);
        i++;
        return v;
      }
      if (args[i + 1] !== undefined && BINARY.has(args[i + 1]!)) {
        const op = args[i + 1]!;
        const b = args[i + 2] ?? '';
        i += 3;
        if (op.startsWith('-')) {
          if (!/^-?\d+$/.test(a) || !/^-?\d+$/.test(b)) throw new Unsupported(`[ ${args.join(' ')} ]: ${op} compares numbers`, at);
          const x = Number(a);
          const y = Number(b);
          return { '-eq': x === y, '-ne': x !== y, '-lt': x < y, '-le': x <= y, '-gt': x > y, '-ge': x >= y }[op]!;
        }
        return { '=': a === b, '==': a === b, '!=': a !== b, '<': a < b, '>': a > b, '<=': a <= b, '>=': a >= b }[op]!;
      }
      if (a === '-z' || a === '-n') {
        const s = args[i + 1] ?? '';
        i += 2;
        return a === '-z' ? s === '' : s !== '';
      }
      if (UNARY_FILE.has(a)) {
        const p = args[i + 1];
        i += 2;
        if (p === undefined) return true; // "[ -f ]": one non-empty string
        const path = this.file(p, at);
        if (a === '-d') return this.m.files.list(path) !== undefined;
        if (a === '-e') return this.m.files.isFile(path) || this.m.files.list(path) !== undefined;
        if (a === '-f') return this.m.files.isFile(path);
        const bytes = this.m.files.isFile(path) ? this.m.files.read(path) : undefined;
        return !!bytes && bytes.length > 0;
      }
      if (a.startsWith('-') && a.length > 1 && args[i + 1] !== undefined) throw new Unsupported(`[ ${args.join(' ')} ]: test ${a} is not one kexec-ts evaluates`, at);
      i++;
      return a !== '';
    };
    const v = or();
    if (i < args.length) throw new Unsupported(`[ ${args.join(' ')} ]: cannot parse the test`, at);
    return v;
  }

  // ---- entries ----

  /** Runs a menu entry's body as GRUB does when it is chosen (the context's variables as the script left them). */
  runEntry(item: Extract<MenuItem, { kind: 'entry' }>): Boot | { reason: string } {
    const saved = { vars: new Map(this.scope.vars), positional: this.positional, setAt: new Map(this.scope.setAt) };
    this.boot = { args: [], initrds: [] };
    this.positional = item.positional;
    try {
      this.list(item.body, item.file, false);
      return this.boot;
    } catch (e) {
      if (e instanceof Unsupported) return { reason: `${e.where}: ${e.message}` };
      if (e instanceof ParseError) return { reason: `${e.source}:${e.line}: ${e.message}` };
      throw e;
    } finally {
      this.boot = undefined;
      this.scope.vars = saved.vars;
      this.scope.setAt = saved.setAt;
      this.positional = saved.positional;
    }
  }

  /** Enters a submenu as GRUB does: a new context with the exported variables only (and `default`). */
  enterSubmenu(item: Extract<MenuItem, { kind: 'submenu' }>, defaultRest: string | undefined): void {
    const outer = this.scope;
    const vars = new Map([...outer.vars].filter(([k]) => outer.exported.has(k)));
    if (defaultRest !== undefined) vars.set('default', defaultRest);
    this.scope = { vars, exported: new Set(outer.exported), setAt: new Map(), menu: [] };
    this.positional = item.positional;
    try {
      this.list(item.body, item.file, true);
      item.items = this.scope.menu;
    } finally {
      this.innerScopes.set(item, this.scope);
      this.scope = outer;
      this.positional = [];
    }
  }
  readonly innerScopes = new Map<MenuItem, Scope>();

  withScope<T>(scope: Scope | undefined, f: () => T): T {
    if (!scope) return f();
    const outer = this.scope;
    this.scope = scope;
    try {
      return f();
    } finally {
      this.scope = outer;
    }
  }

  /** Expands $variables in a BLS options line the way GRUB's blscfg entries do ($kernelopts, $tuned_params). */
  expandText(s: string, where: string): string {
    try {
      const toks = lex(s, where);
      return this.expand(toks.flatMap((t) => (t.kind === 'word' ? [t.word] : []))).join(' ');
    } catch (e) {
      if (e instanceof ParseError) return s;
      throw e;
    }
  }
}

export interface GrubMenuNode {
  item: MenuItem;
  /** The boot entry or rejection made from it (submenus: undefined). */
  result?: BootEntry | Rejected;
  children: GrubMenuNode[];
}

/** Splits GRUB's default into its ">" path elements (">>" is a literal ">"). */
export function defaultPath(value: string): string[] {
  const out: string[] = [''];
  for (let i = 0; i < value.length; i++) {
    if (value[i] === '>' && value[i + 1] === '>') {
      out[out.length - 1] += '>';
      i++;
    } else if (value[i] === '>') out.push('');
    else out[out.length - 1] += value[i];
  }
  return out;
}

/** The menu item `element` names: a number counts visible items; otherwise a title or --id. */
function findItem(nodes: GrubMenuNode[], element: string): number {
  const visible = nodes.filter((n) => !(n.item.kind === 'entry' && n.item.hidden));
  if (/^\s*\d+$/.test(element)) {
    const n = visible[Number(element)];
    return n ? nodes.indexOf(n) : -1;
  }
  return nodes.findIndex((n) => !(n.item.kind === 'entry' && n.item.hidden) && (n.item.title === element || n.item.id === element));
}

/** GRUB's choice for `default` on the evaluated menu: the node and how it was found. */
export function grubChoice(nodes: GrubMenuNode[], value: string | undefined): { node?: GrubMenuNode; how: string } {
  const firstVisible = () => nodes.find((n) => !(n.item.kind === 'entry' && n.item.hidden));
  const first = (how: string) => {
    const n = firstVisible();
    return { ...(n ? { node: descend(n) } : {}), how };
  };
  if (value === undefined || value === '') return first('empty: GRUB boots the first menu entry');
  const path = defaultPath(value);
  let level = nodes;
  let node: GrubMenuNode | undefined;
  const found: string[] = [];
  for (let k = 0; k < path.length; k++) {
    const i = findItem(level, path[k]!);
    if (i < 0) return first(`"${path[k]}" names no menu entry${k ? ` in submenu "${found.join('>')}"` : ''} (by number, title or --id): GRUB boots the first menu entry`);
    node = level[i]!;
    found.push(node.item.title);
    level = node.children;
    if (node.item.kind !== 'submenu') {
      if (k < path.length - 1) return { node, how: `"${path[k]}" is an entry, not a submenu: the rest of the path is ignored` };
      break;
    }
  }
  if (node!.item.kind === 'submenu') return { node: descend(node!), how: `names the submenu "${node!.item.title}": GRUB opens it and boots its first entry` };
  return { node: node!, how: /^\s*\d+$/.test(path[path.length - 1]!) ? `menu entry number ${path.join('>')}` : `names it by ${node!.item.id === path[path.length - 1] ? 'its --id' : 'title'}` };
}

function descend(n: GrubMenuNode): GrubMenuNode {
  while (n.item.kind === 'submenu' && n.children.length) n = n.children.find((c) => !(c.item.kind === 'entry' && c.item.hidden)) ?? n.children[0]!;
  return n;
}

/** Evaluates grub.cfg into a menu tree with each entry made a boot entry or a rejection, and GRUB's default. */
export function evaluateGrub(m: BootMachine, path: string, src: string): { nodes: GrubMenuNode[]; evaluator: GrubEvaluator; defaultValue?: string; defaultSetAt?: string } {
  const ev = new GrubEvaluator(m, path);
  const top = ev.run(src);
  const defaultValue = ev.vars.get('default');
  const defaultSetAt = ev.setWhere('default');
  const build = (items: MenuItem[], titles: string[], path: string[]): GrubMenuNode[] =>
    items.map((item) => {
      if (item.kind === 'submenu') {
        const rest = path[0] !== undefined && (path[0] === item.title || path[0] === item.id) && path.length > 1 ? path.slice(1).join('>') : undefined;
        ev.enterSubmenu(item, rest);
        const scope = ev.innerScopes.get(item);
        return { item, children: ev.withScope(scope, () => build(item.items, [...titles, item.title], [])) };
      }
      return { item, result: makeEntry(m, ev, item, titles), children: [] };
    });
  const nodes = build(top, [], defaultValue ? defaultPath(defaultValue) : []);
  return { nodes, evaluator: ev, ...(defaultValue !== undefined ? { defaultValue } : {}), ...(defaultSetAt ? { defaultSetAt } : {}) };
}

function makeEntry(m: BootMachine, ev: GrubEvaluator, item: Exclude<MenuItem, { kind: 'submenu' }>, titles: string[]): BootEntry | Rejected {
  const shown = [...titles, item.title].join(' > ');
  const id = item.id ?? [...titles, item.title].join('>');
  const reject = (reason: string): Rejected => ({ source: 'grub', origin: item.where, id, title: shown, reason });
  if (item.kind === 'bls') {
    const e = parseBlsEntry(item.path, item.body);
    const b = blsToBoot(m, e, 'grub', (s) => ev.expandText(s, item.path));
    if (isRejected(b)) return { ...b, origin: item.where, id, title: shown };
    return { ...b, id, title: shown, origin: item.where, ...(titles.length ? { submenu: titles } : {}) };
  }
  if (item.hidden) return reject('hiddenentry: GRUB hides it from the menu (it is reached only by its hotkey), so it is never the default');
  const boot = ev.runEntry(item);
  if ('reason' in boot) return reject(boot.reason);
  if (!boot.kernel) return reject(boot.other ? `not a Linux kernel: ${boot.other}` : 'no linux command in the entry');
  for (const [what, p] of [['linux', boot.kernel], ...boot.initrds.map((x) => ['initrd', x])] as [string, string][]) {
    if (!m.files.isFile(p)) return reject(`${what} ${p}: file missing`);
  }
  if (boot.devicetree && !m.files.isFile(boot.devicetree)) return reject(`devicetree ${boot.devicetree}: file missing`);
  const version = /vmlinu[xz]-(.+)$/.exec(boot.kernel)?.[1];
  return {
    id,
    title: shown,
    source: 'grub',
    origin: item.where,
    kernel: boot.kernel,
    initrds: boot.initrds,
    cmdline: boot.args.join(' '),
    ...(boot.devicetree ? { devicetree: boot.devicetree } : {}),
    ...(version ? { version } : {}),
    ...(titles.length ? { submenu: titles } : {}),
    isDefault: false,
  };
}

/** Where grub.cfg is: the first of GRUB_CONFIGS that exists. */
export function grubConfigPath(m: BootMachine): string | undefined {
  return GRUB_CONFIGS.find((p) => m.files.isFile(p));
}

/**
 * The environment block GRUB writes as it boots: its top-level save_env writes to the block it
 * loaded, last value per variable, when they change it (grub-reboot's next_entry cleared);
 * undefined when they change nothing.
 */
export function grubBootOnce(ev: GrubEvaluator): BootOnce | undefined {
  const env = ev.grubenv;
  const path = ev.grubenvPath;
  if (!env || !path) return undefined;
  const last = new Map<string, string | undefined>();
  for (const w of ev.envWrites) if (w.path === path) last.set(w.name, w.value);
  const writes = [...last].filter(([k, v]) => env.get(k) !== v);
  if (!writes.length) return undefined;
  const what = writes.map(([k, v]) => (v === undefined ? `${k} removed` : `${k}=${v}`)).join(', ');
  return { kind: 'grubenv', path, writes, what: `${path}: ${what} (GRUB's save_env as it boots${env.get('next_entry') ? ': the one-shot of grub-reboot consumed' : ''})` };
}

export const grubSource: EntrySource = {
  name: 'grub',
  present: (m) => grubConfigPath(m) !== undefined,
  discover(m): SourceResult {
    const path = grubConfigPath(m)!;
    const entries: BootEntry[] = [];
    const rejected: Rejected[] = [];
    const bytes = m.files.read(path);
    if (!bytes) {
      const reason = `cannot read ${path} (Debian makes it mode 0600: run as root)`;
      return { source: 'grub', entries, rejected: [{ source: 'grub', origin: path, reason }], notes: [], choice: { index: -1, reason } };
    }
    const src = text(bytes);
    let ev: ReturnType<typeof evaluateGrub>;
    try {
      ev = evaluateGrub(m, path, src);
    } catch (e) {
      if (!(e instanceof ParseError)) throw e;
      return { source: 'grub', entries, rejected: [{ source: 'grub', origin: `${e.source}:${e.line ?? 0}`, reason: `grub.cfg does not parse: ${e.message}` }], notes: [], choice: { index: -1, reason: 'grub.cfg does not parse' } };
    }
    const walk = (nodes: GrubMenuNode[]) => {
      for (const n of nodes) {
        if (n.result && isRejected(n.result)) rejected.push(n.result);
        else if (n.result) entries.push(n.result);
        walk(n.children);
      }
    };
    walk(ev.nodes);
    const notes = [...ev.evaluator.notes];
    const { node, how } = grubChoice(ev.nodes, ev.defaultValue);
    const env = ev.evaluator.grubenv;
    const why = [`default="${ev.defaultValue ?? ''}"${ev.defaultSetAt ? ` (set at ${ev.defaultSetAt})` : ' (never set)'}`];
    if (env?.get('next_entry') && env.get('next_entry') === ev.defaultValue) why.push('grubenv next_entry, for this boot only (grub-reboot)');
    else if (env?.get('saved_entry') && env.get('saved_entry') === ev.defaultValue) why.push('grubenv saved_entry (grub-set-default, GRUB_DEFAULT=saved)');
    why.push(how);
    let choice: SourceResult['choice'];
    if (!node?.result) choice = { index: -1, reason: `${why.join('; ')}: no entry` };
    else if (isRejected(node.result)) choice = { index: -1, reason: `${why.join('; ')}: that entry cannot be booted (${node.result.reason})` };
    else choice = { index: entries.indexOf(node.result), reason: why.join('; ') };
    const timeout = ev.evaluator.vars.get('timeout');
    const once = grubBootOnce(ev.evaluator);
    return { source: 'grub', entries, rejected, notes, choice, ...(timeout !== undefined ? { timeout } : {}), ...(once ? { once } : {}) };
  },
};
