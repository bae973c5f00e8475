// vmcore-ts shell DUMP: an interactive session with crash's command names (src/analyze/console/,
// the same commands the viewer's Console tab runs). This is the terminal side: node:readline with
// tab completion and a bounded history file, `| command` through /bin/sh, `> file` / `>> file`,
// `-i FILE` (crash's -i), commands from stdin when it is not a terminal, and `js` (a Node REPL with
// the dump open).
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { createInterface, type Interface } from 'node:readline';
import { start as startRepl } from 'node:repl';
import { ConsoleSession, type ConsoleResult } from '../../analyze/console/session.ts';
import { apiConsoleCommands, consoleDump } from '../../api/console-commands.ts';
import { parseLine, type CommandLine } from '../../analyze/console/line.ts';
import type { KernelDump } from '../../analyze/kernel-dump.ts';
import { openKernelDump } from '../../analyze/open-kernel-dump.ts';
import { UsageError } from '../../errors.ts';
import { FileSource } from '../../host/file-source.ts';
import { describeError } from '../run.ts';
import type { Command } from './commands.ts';
import { parseCommand, symbolFiles, symbolOptions } from './kernel-dump-args.ts';

const USAGE =
  'vmcore-ts shell [-i FILE] [--system-map FILE | --vmlinux FILE] DUMP\n' +
  "  an interactive session with crash's commands: sys, log, bt, ps, set, foreach, struct, union, p, rd, sym, mod, js\n" +
  "  ('help' inside lists them); TAB completes commands, symbols, struct names and members.\n" +
  '  COMMAND | SHELL-COMMAND   the output through /bin/sh;  COMMAND > FILE, COMMAND >> FILE: into a file\n' +
  '  -i FILE   run the commands in FILE first (as crash -i), then read more from stdin unless FILE said quit\n' +
  '            (stdin that is not a terminal: one command a line, no prompt; exit status 1 if a command failed)\n' +
  '  history: ~/.vmcore-ts_history (VMCORE_TS_HISTORY=FILE elsewhere, empty: none), the last 1000 lines';

const PROMPT = 'vmcore-ts> ';
const HISTORY_LINES = 1000;

function historyFile(): string | undefined {
  const env = process.env.VMCORE_TS_HISTORY;
  if (env !== undefined) return env || undefined;
  return join(homedir(), '.vmcore-ts_history');
}

function loadHistory(file: string | undefined): string[] {
  if (!file || !existsSync(file)) return [];
  try {
    return readFileSync(file, 'utf8').split('\n').filter(Boolean).slice(-HISTORY_LINES).reverse();
  } catch {
    return [];
  }
}

class Shell {
  readonly session: ConsoleSession;
  readonly kd: KernelDump;
  failed = 0;
  private history: string[];
  private readonly historyPath: string | undefined;
  private historyWarned = false;

  constructor(kd: KernelDump) {
    this.kd = kd;
    // js runs here (Node's REPL); listed so that help and completion know it
    this.session = new ConsoleSession(kd, {
      ...apiConsoleCommands,
      js: {
        usage: 'js',
        summary: 'a Node REPL with the dump open: dump (the typed API\'s CrashDump), api (its helpers), kd (the KernelDump), run("ps -k"); .exit or ^D returns',
        run: () => {
          throw new UsageError('js: type it alone on the line');
        },
      },
    });
    this.historyPath = historyFile();
    this.history = loadHistory(this.historyPath);
  }

  /** Runs one line; true when it was quit. Errors are one line on stderr and the session goes on. */
  async line(text: string): Promise<boolean> {
    if (!text.trim() || text.trim().startsWith('#')) return false;
    let cl: CommandLine;
    let result: ConsoleResult;
    try {
      cl = parseLine(text);
      if (cl.words[0]?.text === 'js' && !cl.words[0].regex) {
        if (cl.words.length > 1) throw new UsageError('js: takes no arguments (the REPL has kd, session and run("CMD"))');
        await this.js();
        return false;
      }
      result = this.session.run(cl);
    } catch (e) {
      this.error(text, e);
      return false;
    }
    if (result.quit) return true;
    try {
      if (cl.pipe !== undefined) await pipeTo(cl.pipe, result.text);
      else if (cl.redirect) writeFileSync(cl.redirect.file, result.text, { flag: cl.redirect.append ? 'a' : 'w' });
      else process.stdout.write(result.text);
    } catch (e) {
      this.error(text, e);
    }
    for (const n of result.notes) process.stderr.write(`${n}\n`);
    return false;
  }

  private error(text: string, e: unknown): void {
    this.failed++;
    const name = text.trim().split(/\s+/)[0]!;
    const line = describeError(e).line;
    process.stderr.write(`${line.startsWith(`${name}:`) ? line : `${name}: ${line}`}\n`);
  }

  remember(line: string): void {
    if (!this.historyPath || !line.trim()) return;
    try {
      const lines = [...new Set([...this.history].reverse().map((l) => l.trimEnd()))];
      writeFileSync(this.historyPath, lines.slice(-HISTORY_LINES).join('\n') + '\n', { mode: 0o600 });
    } catch (e) {
      if (!this.historyWarned) process.stderr.write(`vmcore-ts shell: history not saved: ${describeError(e).line}\n`);
      this.historyWarned = true;
    }
  }

  /** The interactive loop on a terminal; resolves when the user quits (quit, exit, q or ^D). */
  interactive(): Promise<void> {
    return new Promise((resolve) => {
      const open = (): Interface => {
        const rl = createInterface({
          input: process.stdin,
          output: process.stdout,
          prompt: PROMPT,
          terminal: true,
          history: this.history,
          historySize: HISTORY_LINES,
          removeHistoryDuplicates: true,
          completer: (line: string) => {
            try {
              return this.session.complete(line);
            } catch {
              return [[], line];
            }
          },
        });
        let suspended = false;
        rl.on('history', (h: string[]) => {
          this.history = h;
        });
        rl.on('SIGINT', () => {
          process.stdout.write('^C\n');
          rl.write(null, { ctrl: true, name: 'u' });
          rl.prompt();
        });
        rl.on('line', (text) => {
          rl.pause();
          this.remember(text);
          if (text.trim() === 'js') {
            suspended = true;
            rl.close();
            this.line(text).then(() => open());
            return;
          }
          this.line(text).then((quit) => {
            if (quit) rl.close();
            else {
              rl.resume();
              rl.prompt();
            }
          });
        });
        rl.on('close', () => {
          if (!suspended) {
            process.stdout.write('\n');
            resolve();
          }
        });
        rl.prompt();
        return rl;
      };
      open();
    });
  }

  /** Commands from a stream that is not a terminal, one a line; resolves true when one was quit. */
  async script(lines: AsyncIterable<string> | Iterable<string>): Promise<boolean> {
    for await (const l of lines) if (await this.line(l)) return true;
    return false;
  }

  /** `js`: a Node REPL with the dump open (kd, session, run), back to the shell on .exit or ^D. */
  private async js(): Promise<void> {
    const api = await import('../../api/index.ts'); // loaded when asked for: the prompt does not wait for it
    return new Promise((resolve) => {
      process.stdout.write('js: a Node REPL with the dump open: dump (CrashDump), api (tasks(dump), meminfo(dump), ...), kd (KernelDump), run("ps -k"); .exit or ^D returns\n');
      const r = startRepl({ prompt: 'js> ', useGlobal: false, terminal: process.stdin.isTTY });
      Object.assign(r.context, {
        dump: consoleDump(this.session),
        api,
        kd: this.kd,
        session: this.session,
        run: (cmd: string) => {
          const res = this.session.runLine(cmd);
          process.stdout.write(res.text);
        },
      });
      r.on('exit', () => resolve());
    });
  }
}

/** Writes `text` to a /bin/sh command's stdin; its stdout and stderr are the shell's. */
function pipeTo(command: string, text: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('/bin/sh', ['-c', command], { stdio: ['pipe', 'inherit', 'inherit'] });
    child.on('error', reject);
    child.stdin.on('error', () => {}); // the command may exit without reading (head)
    child.on('close', () => resolve());
    child.stdin.end(text);
  });
}

export const shellCommand: Command = {
  summary: "an interactive session with crash's commands (sys, log, bt, ps, struct, p, rd, sym, mod, foreach bt ...), completion, history, | and >",
  async run(argv) {
    const a = parseCommand(argv, { ...symbolOptions, input: { type: 'string', short: 'i' } }, USAGE, [1, 1]);
    if (!a) return 0;
    if (a.values.json) throw new UsageError('shell: --json is not an option here (the commands print text)');
    const kd = openKernelDump(new FileSource(a.positionals[0]!), symbolFiles(a.values));
    const shell = new Shell(kd);
    const input = typeof a.values.input === 'string' ? a.values.input : undefined;
    if (input !== undefined) {
      let text: string;
      try {
        text = readFileSync(input, 'utf8');
      } catch (e) {
        throw new UsageError(`-i ${input}: ${describeError(e).line}`);
      }
      if (await shell.script(text.split('\n'))) return shell.failed ? 1 : 0;
    }
    if (process.stdin.isTTY) {
      process.stdout.write(`vmcore-ts shell: ${kd.dump.source.name}${kd.release ? ` (Linux ${kd.release})` : ''}; 'help' lists the commands, TAB completes, 'quit' leaves\n`);
      await shell.interactive();
      return 0;
    }
    const rl = createInterface({ input: process.stdin, terminal: false });
    await shell.script(rl);
    rl.close();
    return shell.failed ? 1 : 0;
  },
};

