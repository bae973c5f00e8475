// The mounts of init's mount namespace, in namespace order: device name, mount point, file system type.
//   vmcore-ts run examples/scripts/mounts.ts DUMP
import { mounts, type CrashDump } from 'kexec-ts';

export default function (dump: CrashDump): { devname: string; mountpoint: string; fstype: string }[] {
  return mounts(dump).map(({ devname, mountpoint, fstype }) => ({ devname, mountpoint, fstype }));
}
