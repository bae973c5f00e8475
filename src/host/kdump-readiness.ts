// `kdump-ts estimate` and `kdump-ts test`: how much memory the capture needs on this machine, and
// whether a crash now would be captured — checked without crashing anything (like Debian's
// `kdump-config test`). Reads the machine through `root` ("/", or a fake tree in tests); the
// conclusions are src/kdump/readiness.ts's.
import { gzipSync } from 'node:zlib';
import { CaptureFileMissingError } from '../kdump/status.ts';
import { findFirmware } from './initramfs-collect.ts';
import { kernelMemory, estimateCrashkernel, type Estimate } from '../kdump/estimate.ts';
import {
  captureModeCheck,
  crashkernelCheck,
  declaredFirmware,
  dumpTargetCheck,
  failedCheck,
  initramfsCheck,
  initrdContents,
  loadedCheck,
  modulesCheck,
  parseMeminfo,
  type Check,
  type InitrdContents,
} from '../kdump/readiness.ts';
import { machinePath, readText } from './machine-files.ts';
import { initrdEntries, initrdUnpackedSize } from './initrd-size.ts';
import { buildCaptureInitramfs, packageRoot, resolveTarget, targetModules } from './kdump-initramfs.ts';
import { captureFiles, osRelease, readCaptureFile, readConfig, readStatus } from './kdump-service.ts';
import { httpFailure, readCa, readTokenFile, SyncHttp } from './http-client.ts';
import { readSecretFile } from './secret-file.ts';
import { resolve } from 'node:path';
import type { KdumpConfig } from '../kdump/config.ts';

export interface CaptureEstimate {
  kernel: string;
  /** The initramfs measured: its path, or what mkinitrd would build. */
  initrd: string;
  /** Where the capture runs Node.js from: what the initramfs was built for, or would be. */
  mode: 'root' | 'initramfs';
  estimate: Estimate;
}

/** The crashkernel= size the configured capture kernel and initramfs need (built in memory when missing). */
export function estimateCapture(root: string, opts: { configPath?: string; bundle?: string } = {}): CaptureEstimate {
  const { config } = readConfig(root, opts.configPath);
  const files = captureFiles(config, root);
  const kernelMem = kernelMemory(readCaptureFile(root, 'kernel', files, config, opts.configPath), machinePath(root, files.kernel));
  let initrdSize: bigint;
  let unpacked: bigint;
  let source: string;
  const initrdPath = machinePath(root, files.initrd);
  let initrd: Uint8Array | undefined;
  try {
    initrd = readCaptureFile(root, 'initrd', files, config, opts.configPath);
  } catch (e) {
    if (!(e instanceof CaptureFileMissingError)) throw e;
  }
  let mode: 'root' | 'initramfs';
  if (initrd) {
    initrdSize = BigInt(initrd.length);
    unpacked = initrdUnpackedSize(initrd, initrdPath);
    mode = initrdContents(initrdEntries(initrd, initrdPath)).capture?.mode ?? 'initramfs';
    source = files.initrd;
  } else {
    // Not built yet: assemble it in memory to measure what mkinitrd would write.
    const built = buildCaptureInitramfs({
      config,
      target: resolveTarget(config, root),
      release: files.release,
      modulesDir: machinePath(root, `/lib/modules/${files.release}`),
      bundle: opts.bundle ?? `${packageRoot()}/dist/vmcore-ts.mjs`,
      root,
    });
    unpacked = BigInt(built.archive.dataSize());
    initrdSize = BigInt(gzipSync(Buffer.concat(built.archive.encode()), { level: 1 }).length);
    mode = built.mode.mode;
    source = 'what `kdump-ts mkinitrd` would build (measured in memory)';
  }
  return { kernel: files.kernel, initrd: source, mode, estimate: estimateCrashkernel({ kernelInitSize: kernelMem.bytes, kernelWhy: kernelMem.why, initrdSize, initrdUnpacked: unpacked, mode }) };
}

/**
 * Every check of `kdump-ts test`: memory reserved and large enough, capture kernel and initramfs
 * present and matching, its modules, the dump target, the capture kernel loaded. Never acts.
 * Reads the machine; src/kdump/readiness.ts concludes.
 */
export function readinessChecks(root: string, opts: { configPath?: string; bundle?: string } = {}): Check[] {
  const checks: Check[] = [];
  const status = readStatus(root, opts.configPath);
  const { config } = readConfig(root, opts.configPath);
  const files = captureFiles(config, root);

  try {
    readCaptureFile(root, 'kernel', files, config, opts.configPath);
    checks.push({ name: 'capture kernel', result: 'ok', detail: `${files.kernel} (release ${files.release}; running ${osRelease(root)})` });
  } catch (e) {
    checks.push(failedCheck('capture kernel', e));
  }
  let inside: InitrdContents | undefined;
  try {
    const bytes = readCaptureFile(root, 'initrd', files, config, opts.configPath);
    inside = initrdContents([]);
    initrdContents(initrdEntries(bytes, machinePath(root, files.initrd)), inside);
    checks.push(initramfsCheck(files, inside.builtFor));
    checks.push(captureModeCheck(inside.capture));
  } catch (e) {
    checks.push(failedCheck('capture initramfs', e));
  }

  let estimate: CaptureEstimate | undefined;
  let why = 'what the capture needs is unknown without its kernel and initramfs';
  if (checks.every((c) => c.result === 'ok')) {
    try {
      estimate = estimateCapture(root, opts);
    } catch (e) {
      if (!(e instanceof Error)) throw e;
      why = `the estimate failed: ${e.message}`;
    }
  }
  checks.push(crashkernelCheck(status.reserved, estimate?.estimate, why));

  try {
    const target = resolveTarget(config, root);
    const wanted = targetModules(target, config, root);
    // The firmware the initramfs's modules declare, where the host has it.
    const firmwareOnHost = new Map<string, string>(); // host firmware path -> the module declaring it
    for (const { module, names } of inside ? declaredFirmware(inside.kos, files.initrd) : []) {
      for (const name of names) {
        const onHost = findFirmware(root, name, files.release);
        if (onHost && !firmwareOnHost.has(onHost)) firmwareOnHost.set(onHost, module);
      }
    }
    checks.push(modulesCheck(wanted, target, inside, firmwareOnHost));
  } catch (e) {
    checks.push(failedCheck('modules', e));
  }
  checks.push(dumpTargetCheck(status, config, parseMeminfo(readText(root, '/proc/meminfo') ?? '')));
  if (config.collector) checks.push(collectorCheck(config.collector, root));
  checks.push(loadedCheck(status));
  return checks;
}

/**
 * Triage first: the collector answers this host's token (GET /v1/whoami, bounded). On another root
 * (--root) it is not asked: that machine's network and token are not this one's.
 */
function collectorCheck(c: NonNullable<KdumpConfig['collector']>, root: string): Check {
  const name = 'collector';
  if (resolve(root) !== '/') return { name, result: 'skip', detail: `${c.url}: not asked for another root (--root)` };
  let token: string;
  let ca: string | undefined;
  try {
    token = readTokenFile(c.token, readSecretFile);
    ca = readCa(c.ca);
  } catch (e) {
    return failedCheck(name, e);
  }
  const http = new SyncHttp();
  try {
    const req = { method: 'GET', url: `${c.url}/v1/whoami`, headers: { authorization: `Bearer ${token}` }, ca, timeoutMs: 15_000 };
    let res;
    try {
      res = http.request(req);
    } catch (e) {
      return failedCheck(name, e);
    }
    if (res.status !== 200) return failedCheck(name, httpFailure(req, res));
    const who = JSON.parse(new TextDecoder().decode(res.body)) as { kind: string; host?: string };
    if (who.kind !== 'host') return { name, result: 'FAIL', detail: `${c.url}: ${c.token} is a viewer token`, fix: "give this host's token (a HOST TOKEN line of the collector's tokens file)" };
    if (c.host && who.host !== c.host) return { name, result: 'FAIL', detail: `${c.url}: the token is host ${who.host}'s, collector_host says ${c.host}`, fix: 'make collector_host and the token agree' };
    return { name, result: 'ok', detail: `${c.url}: reachable, the token is host ${who.host}'s` };
  } finally {
    http.close();
  }
}
