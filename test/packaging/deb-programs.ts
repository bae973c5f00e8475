// packaging/deb/programs: the programs kexec-ts runs or packs at run time, each with its Debian
// package and the src/ files that use it (scripts/build-deb.mjs reads the same list for Depends).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface DebProgram {
  program: string;
  package: string;
  /** Essential (marked ! in the list): not in Depends */
  essential: boolean;
  usedBy: string[];
}

export function debPrograms(repo = '.'): DebProgram[] {
  return readFileSync(join(repo, 'packaging/deb/programs'), 'utf8')
    .split('\n')
    .filter((l) => l.trim() && !l.startsWith('#'))
    .map((l) => {
      const [program, pkg, ...usedBy] = l.trim().split(/\s+/) as [string, string, ...string[]];
      return { program, package: pkg.replace(/!$/, ''), essential: pkg.endsWith('!'), usedBy };
    });
}

/** The packages that go into Depends (the non-Essential ones), once each, in the list's order. */
export function debProgramPackages(repo = '.'): string[] {
  return [...new Set(debPrograms(repo).filter((p) => !p.essential).map((p) => p.package))];
}
