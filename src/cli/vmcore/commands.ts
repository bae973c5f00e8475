// The vmcore-ts command table: one module per command under src/cli/vmcore/.
import { dmesgCommand } from './dmesg.ts';
import { infoCommand } from './info.ts';
import { readCommand } from './read.ts';
import { regsCommand } from './regs.ts';
import { symCommand } from './sym.ts';

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
};
