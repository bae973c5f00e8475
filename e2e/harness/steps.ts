// Harness failures name the step that failed (download, unpack, initramfs, boot, marker...).
import { spawn, type SpawnOptions } from 'node:child_process';

export class E2EStepError extends Error {
  readonly step: string;
  readonly details: string;
  constructor(step: string, message: string, details = '') {
    super(`e2e step '${step}' failed: ${message}${details ? '\n' + details : ''}`);
    this.name = 'E2EStepError';
    this.step = step;
    this.details = details;
  }
}

export interface RunResult {
  stdout: string;
  stderr: string;
  code: number | null;
}

/**
 * Runs a host command in its own process group with a time limit; on timeout the whole group is
 * killed. Fails (E2EStepError naming `step`) on a non-zero exit unless `allowFail`.
 */
export function run(
  step: string,
  cmd: string,
  args: string[],
  opts: { timeoutMs?: number; allowFail?: boolean; env?: NodeJS.ProcessEnv; cwd?: string; input?: string } = {},
): Promise<RunResult> {
  const timeoutMs = opts.timeoutMs ?? 10 * 60_000;
  return new Promise((resolve, reject) => {
    const so: SpawnOptions = { detached: true, stdio: ['pipe', 'pipe', 'pipe'], env: opts.env, cwd: opts.cwd };
    const child = spawn(cmd, args, so);
    let stdout = '';
    let stderr = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    // A command that exits without reading its input (dpkg-query, a quick failure) must not crash us with EPIPE.
    child.stdin!.on('error', () => {});
    child.stdin!.end(opts.input ?? '');
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup(child.pid);
    }, timeoutMs);
    const release = () => killGroup(child.pid);
    process.once('exit', release);
    child.on('error', (e) => {
      clearTimeout(timer);
      process.off('exit', release);
      reject(new E2EStepError(step, `cannot run ${cmd}: ${e.message}`));
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      process.off('exit', release);
      const cmdline = [cmd, ...args].join(' ');
      if (timedOut) reject(new E2EStepError(step, `${cmdline} did not finish within ${timeoutMs / 1000} s (killed)`, tail(stderr || stdout, 20)));
      else if (code !== 0 && !opts.allowFail) reject(new E2EStepError(step, `${cmdline} exited with ${code}`, tail(stderr || stdout, 20)));
      else resolve({ stdout, stderr, code });
    });
  });
}

/** Kills a process group started with `detached: true` (no error if it is gone already). */
export function killGroup(pid: number | undefined, signal: NodeJS.Signals = 'SIGKILL'): void {
  if (!pid) return;
  try {
    process.kill(-pid, signal);
  } catch {
    /* already gone */
  }
}

export function tail(text: string, n: number): string {
  const lines = text.replace(/\r/g, '').split('\n');
  if (lines.at(-1) === '') lines.pop();
  return lines.slice(-n).join('\n');
}
