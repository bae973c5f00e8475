// Kernel module dependency resolution from a kernel's modules.dep (and modules.builtin).
// Pure: takes the files' text, returns module paths relative to /lib/modules/RELEASE in load order.
//
// modules.dep lines: "kernel/drivers/block/virtio_blk.ko.xz: kernel/drivers/virtio/virtio.ko.xz ..."
// (the dependencies listed are the full transitive closure, in an order where a module comes
// before those it depends on — `modprobe` loads the list from the end).

/** The module name of a path: basename without .ko/.ko.xz/.ko.zst/.ko.gz, '-' read as '_'. */
export function moduleName(path: string): string {
  const base = path.slice(path.lastIndexOf('/') + 1);
  return base.replace(/\.ko(\.(xz|zst|gz))?$/, '').replace(/-/g, '_');
}

export interface ModuleIndex {
  /** module name -> path relative to the modules directory */
  readonly paths: ReadonlyMap<string, string>;
  /** module path -> direct and transitive dependencies (paths), as listed */
  readonly deps: ReadonlyMap<string, readonly string[]>;
  /** names of modules built into the kernel image (nothing to load) */
  readonly builtin: ReadonlySet<string>;
}

export function parseModulesDep(depText: string, builtinText = ''): ModuleIndex {
  const paths = new Map<string, string>();
  const deps = new Map<string, string[]>();
  for (const raw of depText.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    const path = line.slice(0, colon).trim();
    const list = line.slice(colon + 1).trim();
    paths.set(moduleName(path), path);
    deps.set(path, list ? list.split(/\s+/) : []);
  }
  const builtin = new Set(
    builtinText
      .split('\n')
      .map((l) => l.trim())
      .filter(Boolean)
      .map(moduleName),
  );
  return { paths, deps, builtin };
}

/**
 * The modules to insert, dependencies first, for the `wanted` module names (each loaded once).
 * Built-in modules are skipped. Throws when a wanted module is neither a module nor built in.
 */
export function resolveModules(index: ModuleIndex, wanted: readonly string[]): string[] {
  const order: string[] = [];
  const seen = new Set<string>();
  const visit = (path: string, depth: number) => {
    if (seen.has(path)) return;
    if (depth > 64) throw new Error(`module dependency chain too deep at ${path}`);
    seen.add(path);
    // modules.dep lists each dependency before the modules that need it are loaded by modprobe
    // from the end; visiting each dependency's own list keeps the order right even if not.
    const list = index.deps.get(path) ?? [];
    for (let i = list.length - 1; i >= 0; i--) visit(list[i]!, depth + 1);
    order.push(path);
  };
  for (const w of wanted) {
    const name = moduleName(w);
    const path = index.paths.get(name);
    if (path) visit(path, 0);
    else if (!index.builtin.has(name)) {
      throw new Error(`kernel module '${w}' is neither in modules.dep nor in modules.builtin`);
    }
  }
  return order;
}

/**
 * Load order for `wanted` when there is no modules.dep (a kernel package unpacked without running
 * depmod): follows each module's own "depends=" list. `pathOf(name)` finds a module file by name
 * (undefined if built in or absent), `dependsOf(path)` reads its depends list.
 */
export function resolveModulesByModinfo(
  wanted: readonly string[],
  pathOf: (name: string) => string | undefined,
  dependsOf: (path: string) => string[],
  isBuiltin: (name: string) => boolean = () => false,
): string[] {
  const order: string[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (name: string, depth: number, from: string) => {
    if (state.has(name)) return;
    if (depth > 64) throw new Error(`module dependency chain too deep at ${name}`);
    const path = pathOf(name);
    if (!path) {
      if (isBuiltin(name)) return;
      throw new Error(`kernel module '${name}'${from ? ` (needed by ${from})` : ''} is neither a module file nor built in`);
    }
    state.set(name, 'visiting');
    for (const d of dependsOf(path)) visit(d, depth + 1, name);
    state.set(name, 'done');
    order.push(path);
  };
  for (const w of wanted) visit(moduleName(w), 0, '');
  return order;
}
