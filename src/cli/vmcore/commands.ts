// The vmcore-ts command table: one module per command under src/cli/vmcore/.
export interface Command {
  summary: string;
  run(argv: string[]): Promise<number | void> | number | void;
}

export const vmcoreCommands: Record<string, Command> = {};
