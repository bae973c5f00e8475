// The vmcore-ts command table: one module per command under src/cli/vmcore/.
import { btCommand } from './bt.ts';
import { convertCommand } from './convert.ts';
import { dmesgCommand } from './dmesg.ts';
import { infoCommand } from './info.ts';
import { memCommand } from './mem.ts';
import { psCommand } from './ps.ts';
import { readCommand } from './read.ts';
import { regsCommand } from './regs.ts';
import { saveCommand } from './save.ts';
import { serveCommand } from './serve.ts';
import { structCommand } from './struct.ts';
import { summaryCommand } from './summary.ts';
import { symCommand } from './sym.ts';
import { typesCommand } from './types.ts';

export interface Command {
  summary: string;
  run(argv: string[]): Promise<number | void> | number | void;
}

export const vmcoreCommands: Record<string, Command> = {
  info: infoCommand,
  dmesg: dmesgCommand,
  regs: regsCommand,
  read: readCommand,
  sym: symCommand,
  summary: summaryCommand,
  bt: btCommand,
  ps: psCommand,
  struct: structCommand,
  types: typesCommand,
  mem: memCommand,
  serve: serveCommand,
  save: saveCommand,
  convert: convertCommand,
};
