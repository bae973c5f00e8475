// Block devices (drgn.helpers.linux.block): every struct block_device, found as the inodes of the
// bdev pseudo file system (blockdev_superblock->s_inodes, each inside a struct bdev_inode), named
// as the kernel's %pg prints them ("vda", "vda1", "nvme0n1p2").
import type { CrashDump } from '../dump.ts';
import type { KObject } from '../object.ts';
import { listEntries } from './lists.ts';

/** The partition number of a block device: bd_partno, or since 6.10 the low byte of __bd_flags. */
export function partitionNumber(bdev: KObject): number {
  if (bdev.hasMember('bd_partno')) return bdev.member('bd_partno').number();
  return bdev.member('__bd_flags').number() & 0xff;
}

/** A block device's name as the kernel prints it: the disk's name, then the partition ("p" after a digit). */
export function blockDeviceName(bdev: KObject): string {
  const disk = bdev.member('bd_disk').member('disk_name').string(32);
  const part = partitionNumber(bdev);
  if (part === 0) return disk;
  return /\d$/.test(disk) ? `${disk}p${part}` : `${disk}${part}`;
}

/** One block device. */
export interface BlockDevice {
  /** Its name ("vda", "vda1"). */
  name: string;
  /** Device number as major:minor. */
  dev: string;
  /** Size in 512-byte sectors. */
  sectors: number;
  /** Partition number, 0 for a whole disk. */
  partition: number;
  /** The struct block_device. */
  bdev: KObject;
}

/** The struct block_device objects of every block device the kernel has open or known (bdev inodes with a disk). */
export function blockDeviceObjects(dump: CrashDump): KObject[] {
  const sb = dump.object('blockdev_superblock').deref();
  const out: KObject[] = [];
  for (const inode of listEntries(sb.member('s_inodes'), 'struct inode', 'i_sb_list')) {
    const bdev = inode.containerOf('struct bdev_inode', 'vfs_inode').member('bdev');
    if (!bdev.member('bd_disk').isNull()) out.push(bdev);
  }
  return out;
}

/** Every block device with its name, number and size, in the bdev inode list's order. */
export function blockDevices(dump: CrashDump): BlockDevice[] {
  return blockDeviceObjects(dump).map((bdev) => {
    const dev = bdev.member('bd_dev').number();
    const sectors = bdev.hasMember('bd_nr_sectors') ? bdev.member('bd_nr_sectors').number() : bdev.member('bd_disk').member('part0').member('bd_nr_sectors').number();
    return { name: blockDeviceName(bdev), dev: `${dev >>> 20}:${dev & 0xfffff}`, sectors, partition: partitionNumber(bdev), bdev };
  });
}
