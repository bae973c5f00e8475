/**
 * node's flags for the CLIs: bin/*.mjs's first lines, the Debian package's bins, the capture init,
 * and the tests and benches that spawn a CLI all give these.
 * - A 1 MiB young generation: V8 grows it to 16 MiB during a save, 16-30 MB of memory that a
 *   capture kernel's reservation pays for, for no speed (BENCHMARKS.md).
 * - No background (concurrent) TurboFan compiles: Node 20 can hang for ever at exit when one waits
 *   for a garbage collection while the main thread drains the platform's tasks (nodejs/node#54918;
 *   seen in CI under disk writeback; 4 of 80 runs here with a large write beside, none with the flag).
 *   Only on the command line: NODE_OPTIONS refuses it, and v8.setFlagsFromString comes too late.
 */
export const NODE_ARGS: readonly string[] = ['--max-semi-space-size=1', '--no-concurrent-recompilation'];
/** NODE_ARGS for a shell command line or a #! line read by `env -S`. */
export const NODE_FLAGS = NODE_ARGS.join(' ');
