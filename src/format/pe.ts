// PE/COFF executables (Microsoft PE Format specification): the DOS header, the PE signature, the
// COFF file header, the optional header (PE32 and PE32+), its data directories and the section
// table — what EFI programs (systemd-stub UKIs and add-ons, EFI-stub kernels) are made of — and the
// byte ranges the Authenticode image hash covers.
import { ParseError } from '../errors.ts';
import { readStruct, struct } from './struct.ts';

export const dosHeader = struct('IMAGE_DOS_HEADER', 64, {
  e_magic: { off: 0x00, type: 'u16' },
  e_lfanew: { off: 0x3c, type: 'u32' },
});

export const coffHeader = struct('IMAGE_FILE_HEADER', 20, {
  Machine: { off: 0, type: 'u16' },
  NumberOfSections: { off: 2, type: 'u16' },
  TimeDateStamp: { off: 4, type: 'u32' },
  PointerToSymbolTable: { off: 8, type: 'u32' },
  NumberOfSymbols: { off: 12, type: 'u32' },
  SizeOfOptionalHeader: { off: 16, type: 'u16' },
  Characteristics: { off: 18, type: 'u16' },
});

/** The optional header fields we use, at the same offsets in PE32 and PE32+ (they differ from ImageBase on). */
const optionalHeaderCommon = {
  Magic: { off: 0, type: 'u16' },
  AddressOfEntryPoint: { off: 16, type: 'u32' },
  SectionAlignment: { off: 32, type: 'u32' },
  FileAlignment: { off: 36, type: 'u32' },
  SizeOfImage: { off: 56, type: 'u32' },
  SizeOfHeaders: { off: 60, type: 'u32' },
  CheckSum: { off: 64, type: 'u32' },
  Subsystem: { off: 68, type: 'u16' },
} as const;
export const optionalHeader32 = struct('IMAGE_OPTIONAL_HEADER32', 96, { ...optionalHeaderCommon, NumberOfRvaAndSizes: { off: 92, type: 'u32' } });
export const optionalHeader64 = struct('IMAGE_OPTIONAL_HEADER64', 112, { ...optionalHeaderCommon, NumberOfRvaAndSizes: { off: 108, type: 'u32' } });

export const dataDirectory = struct('IMAGE_DATA_DIRECTORY', 8, {
  VirtualAddress: { off: 0, type: 'u32' },
  Size: { off: 4, type: 'u32' },
});

export const sectionHeader = struct('IMAGE_SECTION_HEADER', 40, {
  Name: { off: 0, type: 'cstr:8' },
  VirtualSize: { off: 8, type: 'u32' },
  VirtualAddress: { off: 12, type: 'u32' },
  SizeOfRawData: { off: 16, type: 'u32' },
  PointerToRawData: { off: 20, type: 'u32' },
  Characteristics: { off: 36, type: 'u32' },
});

const MZ = 0x5a4d;
const PE_SIGNATURE = 0x00004550; // "PE\0\0"
export const PE32_MAGIC = 0x10b;
export const PE32PLUS_MAGIC = 0x20b;
/** Index of the certificate table (attribute certificates; its "address" is a file offset). */
export const CERTIFICATE_TABLE = 4;
const COFF_SYMBOL_SIZE = 18;
/** More sections than any real image has: a damaged count would otherwise walk the whole file. */
const MAX_SECTIONS = 4096;

/** IMAGE_FILE_MACHINE_* values by the UEFI architecture names (BOOTX64.EFI, the BLS `architecture` key). */
export const PE_MACHINES: Readonly<Record<number, string>> = {
  0x014c: 'ia32',
  0x01c2: 'arm',
  0x01c4: 'arm',
  0x0200: 'ia64',
  0x5032: 'riscv32',
  0x5064: 'riscv64',
  0x6264: 'loongarch64',
  0x8664: 'x64',
  0xaa64: 'aa64',
};

export function peMachineName(machine: number): string {
  return PE_MACHINES[machine] ?? `0x${machine.toString(16).padStart(4, '0')}`;
}

export interface PeSection {
  /** Index in the section table (the order systemd-stub and the UKI profiles use). */
  index: number;
  name: string;
  virtualSize: number;
  virtualAddress: number;
  sizeOfRawData: number;
  pointerToRawData: number;
  characteristics: number;
}

export interface PeDataDirectory {
  virtualAddress: number;
  size: number;
}

export interface PeImage {
  machine: number;
  /** PE32 (0x10b) or PE32+ (0x20b). */
  magic: number;
  subsystem: number;
  sizeOfHeaders: number;
  /** File offset of the optional header's CheckSum field (left out of the Authenticode hash). */
  checksumOffset: number;
  /** File offset of the certificate table's data directory entry (left out too), if there is one. */
  certDirectoryOffset: number | undefined;
  dataDirectories: PeDataDirectory[];
  /** The attribute certificate table (file offset and size), when the image is signed. */
  certificateTable: { offset: number; size: number } | undefined;
  sections: PeSection[];
  fileSize: number;
}

const fail = (source: string, offset: number, what: string, hint = 'not a PE/COFF (EFI) executable, or truncated') =>
  new ParseError(`${source}: ${what}`, { offset, source, hint });

/** True when the bytes start like a PE image ("MZ" and a "PE\0\0" signature where e_lfanew points). */
export function isPe(bytes: Uint8Array): boolean {
  if (bytes.length < dosHeader.size) return false;
  const d = readStruct(dosHeader, bytes);
  if (d.e_magic !== MZ || d.e_lfanew + 4 > bytes.length) return false;
  return new DataView(bytes.buffer, bytes.byteOffset).getUint32(d.e_lfanew, true) === PE_SIGNATURE;
}

/** Reads the headers and the section table; every offset is checked against the file. */
export function parsePe(bytes: Uint8Array, source = '<PE image>'): PeImage {
  if (bytes.length < dosHeader.size) throw fail(source, 0, `not a PE/COFF executable: ${bytes.length} bytes is shorter than a DOS header`);
  const dos = readStruct(dosHeader, bytes);
  if (dos.e_magic !== MZ) throw fail(source, 0, `not a PE/COFF executable: no "MZ" at offset 0 (found 0x${dos.e_magic.toString(16)})`);
  const peOff = dos.e_lfanew;
  if (peOff + 4 + coffHeader.size > bytes.length) throw fail(source, 0x3c, `e_lfanew 0x${peOff.toString(16)} points past the end of the file`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  if (dv.getUint32(peOff, true) !== PE_SIGNATURE) throw fail(source, peOff, `no "PE\\0\\0" signature at 0x${peOff.toString(16)}`);
  const coffOff = peOff + 4;
  const coff = readStruct(coffHeader, bytes, coffOff);
  const optOff = coffOff + coffHeader.size;
  if (coff.SizeOfOptionalHeader < 2 || optOff + coff.SizeOfOptionalHeader > bytes.length) {
    throw fail(source, coffOff + 16, `optional header of ${coff.SizeOfOptionalHeader} bytes does not fit in the file`);
  }
  const magic = dv.getUint16(optOff, true);
  const layout = magic === PE32PLUS_MAGIC ? optionalHeader64 : magic === PE32_MAGIC ? optionalHeader32 : undefined;
  if (!layout) throw fail(source, optOff, `optional header magic 0x${magic.toString(16)} is neither PE32 (0x10b) nor PE32+ (0x20b)`);
  if (coff.SizeOfOptionalHeader < layout.size) {
    throw fail(source, coffOff + 16, `optional header of ${coff.SizeOfOptionalHeader} bytes is shorter than the ${layout.size} bytes of a ${magic === PE32PLUS_MAGIC ? 'PE32+' : 'PE32'} header`);
  }
  const opt = layout === optionalHeader64 ? readStruct(optionalHeader64, bytes, optOff) : readStruct(optionalHeader32, bytes, optOff);
  const dirCount = Math.min(opt.NumberOfRvaAndSizes, (coff.SizeOfOptionalHeader - layout.size) / dataDirectory.size);
  const dataDirectories: PeDataDirectory[] = [];
  for (let i = 0; i < dirCount; i++) {
    const d = readStruct(dataDirectory, bytes, optOff + layout.size + i * dataDirectory.size);
    dataDirectories.push({ virtualAddress: d.VirtualAddress, size: d.Size });
  }
  const certDirectoryOffset = dirCount > CERTIFICATE_TABLE ? optOff + layout.size + CERTIFICATE_TABLE * dataDirectory.size : undefined;
  const cert = dataDirectories[CERTIFICATE_TABLE];
  let certificateTable: PeImage['certificateTable'];
  if (cert && cert.size > 0) {
    if (cert.virtualAddress + cert.size > bytes.length || cert.virtualAddress < opt.SizeOfHeaders) {
      throw fail(source, certDirectoryOffset!, `certificate table [0x${cert.virtualAddress.toString(16)}, +${cert.size}) lies outside the ${bytes.length}-byte file`, 'the file is truncated or damaged');
    }
    certificateTable = { offset: cert.virtualAddress, size: cert.size };
  }
  const tableOff = optOff + coff.SizeOfOptionalHeader;
  if (coff.NumberOfSections > MAX_SECTIONS || tableOff + coff.NumberOfSections * sectionHeader.size > bytes.length) {
    throw fail(source, coffOff + 2, `section table of ${coff.NumberOfSections} entries at 0x${tableOff.toString(16)} does not fit in the file`);
  }
  if (opt.SizeOfHeaders > bytes.length || opt.SizeOfHeaders < tableOff) {
    throw fail(source, optOff + 60, `SizeOfHeaders 0x${opt.SizeOfHeaders.toString(16)} does not cover the headers (0x${tableOff.toString(16)}) or exceeds the file`);
  }
  const sections: PeSection[] = [];
  for (let i = 0; i < coff.NumberOfSections; i++) {
    const at = tableOff + i * sectionHeader.size;
    const s = readStruct(sectionHeader, bytes, at);
    if (s.SizeOfRawData > 0 && s.PointerToRawData + s.SizeOfRawData > bytes.length) {
      throw fail(source, at + 16, `section ${i} (${s.Name}): raw data [0x${s.PointerToRawData.toString(16)}, +${s.SizeOfRawData}) lies outside the ${bytes.length}-byte file`, 'the file is truncated');
    }
    sections.push({
      index: i,
      name: longName(bytes, coff, s.Name) ?? s.Name,
      virtualSize: s.VirtualSize,
      virtualAddress: s.VirtualAddress,
      sizeOfRawData: s.SizeOfRawData,
      pointerToRawData: s.PointerToRawData,
      characteristics: s.Characteristics,
    });
  }
  return {
    machine: coff.Machine,
    magic,
    subsystem: opt.Subsystem,
    sizeOfHeaders: opt.SizeOfHeaders,
    checksumOffset: optOff + 64,
    certDirectoryOffset,
    dataDirectories,
    certificateTable,
    sections,
    fileSize: bytes.length,
  };
}

/** "/123": a name longer than 8 bytes, at that offset of the COFF string table. */
function longName(bytes: Uint8Array, coff: { PointerToSymbolTable: number; NumberOfSymbols: number }, name: string): string | undefined {
  if (!/^\/\d+$/.test(name) || coff.PointerToSymbolTable === 0) return undefined;
  const at = coff.PointerToSymbolTable + coff.NumberOfSymbols * COFF_SYMBOL_SIZE + Number(name.slice(1));
  if (at >= bytes.length) return undefined;
  const end = bytes.indexOf(0, at);
  return new TextDecoder('latin1').decode(bytes.subarray(at, end < 0 ? bytes.length : end));
}

/**
 * A section's contents as a loader uses them: VirtualSize bytes (what the section holds; the raw
 * data is padded to FileAlignment), bounded by the raw data in the file.
 */
export function peSectionData(bytes: Uint8Array, s: PeSection): Uint8Array {
  const size = s.virtualSize === 0 ? s.sizeOfRawData : Math.min(s.virtualSize, s.sizeOfRawData);
  return bytes.subarray(s.pointerToRawData, s.pointerToRawData + size);
}

/**
 * The byte ranges [start, end) of the file the Authenticode image hash covers, in order
 * (Windows Authenticode PE Signature Format, "Calculating the PE Image Hash"): the headers without
 * the CheckSum field and the certificate table's directory entry, every section's raw data sorted
 * by PointerToRawData, then whatever follows the last section up to the certificate table (or the
 * end of the file) — the certificate table itself is never hashed.
 */
export function authenticodeRanges(pe: PeImage): [number, number][] {
  const out: [number, number][] = [];
  const skips = [[pe.checksumOffset, 4]];
  if (pe.certDirectoryOffset !== undefined) skips.push([pe.certDirectoryOffset, 8]);
  let at = 0;
  for (const [off, len] of skips) {
    out.push([at, off!]);
    at = off! + len!;
  }
  out.push([at, pe.sizeOfHeaders]);
  let end = pe.sizeOfHeaders;
  const sorted = pe.sections.filter((s) => s.sizeOfRawData > 0).sort((a, b) => a.pointerToRawData - b.pointerToRawData);
  for (const s of sorted) {
    out.push([s.pointerToRawData, s.pointerToRawData + s.sizeOfRawData]);
    end = Math.max(end, s.pointerToRawData + s.sizeOfRawData);
  }
  const tail = pe.certificateTable ? pe.certificateTable.offset : pe.fileSize;
  if (tail > end) out.push([end, tail]);
  return out;
}
