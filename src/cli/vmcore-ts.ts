// vmcore-ts: save, convert and analyse Linux crash dumps.
import { topLevel, unknownCommand } from './args.ts';
import { runCli } from './run.ts';
import { vmcoreAliases, vmcoreCommands } from './vmcore/commands.ts';

/** The usage text; loads every command module for its summary (only help and errors need it). */
async function usage(): Promise<string> {
  const lines = ['usage: vmcore-ts COMMAND [OPTIONS] DUMP ...', '       vmcore-ts --version', '', 'commands:'];
  for (const [name, load] of Object.entries(vmcoreCommands)) {
    const aliases = Object.keys(vmcoreAliases).filter((k) => vmcoreAliases[k] === name);
    lines.push(`  ${(aliases.length ? `${name} (${aliases.join(', ')})` : name).padEnd(13)} ${(await load()).summary}`);
  }
  lines.push('', "run 'vmcore-ts COMMAND --help' for a command's options");
  return lines.join('\n');
}

await runCli('vmcore-ts', async (argv) => {
  const [name, ...rest] = argv;
  const done = await topLevel('vmcore-ts', name, usage);
  if (done !== undefined) return done;
  const command = Object.hasOwn(vmcoreAliases, name!) ? vmcoreAliases[name!]! : name!;
  const load = Object.hasOwn(vmcoreCommands, command) ? vmcoreCommands[command] : undefined;
  if (!load) throw unknownCommand('vmcore-ts', name!, [...Object.keys(vmcoreCommands), ...Object.keys(vmcoreAliases)]);
  return (await load()).run(rest);
});
