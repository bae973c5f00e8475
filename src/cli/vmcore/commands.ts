// The vmcore-ts command table: one module per command under src/cli/vmcore/, each loaded only when
// its command runs (the bundle splits them into chunks: `vmcore-ts dmesg` does not load the code of
// save, serve or bt — start-up time is most of a dmesg run).
export interface Command {
  summary: string;
  run(argv: string[]): Promise<number | void> | number | void;
}

/** crash's names for the same commands (`log`, `sys`), listed with them in the usage text. */
export const vmcoreAliases: Record<string, string> = { log: 'dmesg', sys: 'info' };

export const vmcoreCommands: Record<string, () => Promise<Command>> = {
  info: async () => (await import('./info.ts')).infoCommand,
  dmesg: async () => (await import('./dmesg.ts')).dmesgCommand,
  regs: async () => (await import('./regs.ts')).regsCommand,
  read: async () => (await import('./read.ts')).readCommand,
  sym: async () => (await import('./sym.ts')).symCommand,
  summary: async () => (await import('./summary.ts')).summaryCommand,
  bt: async () => (await import('./bt.ts')).btCommand,
  ps: async () => (await import('./ps.ts')).psCommand,
  struct: async () => (await import('./struct.ts')).structCommand,
  types: async () => (await import('./types.ts')).typesCommand,
  mem: async () => (await import('./mem.ts')).memCommand,
  serve: async () => (await import('./serve.ts')).serveCommand,
  save: async () => (await import('./save.ts')).saveCommand,
  convert: async () => (await import('./convert.ts')).convertCommand,
  verify: async () => (await import('./verify.ts')).verifyCommand,
  run: async () => (await import('./run.ts')).runCommand,
  triage: async () => (await import('./triage.ts')).triageCommand,
  collect: async () => (await import('./collect.ts')).collectCommand,
};
