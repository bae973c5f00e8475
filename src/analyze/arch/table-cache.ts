// The 4 KiB page-table pages a walker reads (x86_64 and arm64 with a 4 KiB granule), cached by
// physical address: a walk reads the same upper tables again and again.
import { NotInDumpError } from '../../errors.ts';
import { hex } from '../../text.ts';
import type { PhysReader } from './arch.ts';

const MAX_CACHED_TABLES = 4096; // 16 MiB

export class TableCache {
  private readonly phys: PhysReader;
  private readonly tables = new Map<bigint, BigUint64Array>();
  constructor(phys: PhysReader) {
    this.phys = phys;
  }

  /** The table at `paddr` (read while translating `vaddr`; `level` names it when it is not in the dump). */
  table(paddr: bigint, vaddr: bigint, level: string): BigUint64Array {
    let t = this.tables.get(paddr);
    if (t) return t;
    let bytes: Uint8Array;
    try {
      bytes = this.phys.readPhys(paddr, 4096);
    } catch (e) {
      if (e instanceof NotInDumpError) {
        throw new NotInDumpError(vaddr, false, e.reason, `its ${level} table at physical ${hex(paddr)} is not in the dump`);
      }
      throw e;
    }
    t = new BigUint64Array(bytes.slice().buffer);
    if (this.tables.size >= MAX_CACHED_TABLES) this.tables.clear();
    this.tables.set(paddr, t);
    return t;
  }
}
