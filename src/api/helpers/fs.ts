// Files and mounts (drgn.helpers.linux.fs): d_path as the kernel prints it, a task's open files,
// the mounts of a mount namespace.
import { isApiError, type CrashDump } from '../dump.ts';
import { ObjectError } from '../errors.ts';
import type { KObject } from '../object.ts';
import { listEntries, rbtreeEntries } from './lists.ts';

const MAX_DEPTH = 4096;

/** The dentry's own name (d_name). */
export function dentryName(dentry: KObject): string {
  return dentry.member('d_name.name').string(4096);
}

/**
 * The names the kernel makes up for dentries of pseudo file systems (their d_op->d_dname), as
 * d_path prints them: pipes, sockets, anonymous inodes, namespaces, deleted shmem/memfd files.
 * Undefined when the dentry has no d_dname or it is one this does not know.
 */
function dynamicName(dump: CrashDump, dentry: KObject): string | undefined {
  const op = dentry.member('d_op');
  if (op.isNull()) return undefined;
  const fn = op.deref().member('d_dname').pointer();
  if (fn === 0n) return undefined;
  const name = dump.symbolAt(fn)?.symbol.name;
  const ino = () => dentry.member('d_inode').deref().member('i_ino').bigint();
  switch (name) {
    case 'pipefs_dname':
      return `pipe:[${ino()}]`;
    case 'sockfs_dname':
      return `socket:[${ino()}]`;
    case 'anon_inodefs_dname':
      return `anon_inode:${dentryName(dentry)}`;
    case 'simple_dname':
      return `/${dentryName(dentry)} (deleted)`;
    case 'ns_dname': {
      const ops = dentry.member('d_fsdata').pointer();
      const nsName = dump.objectAt('struct proc_ns_operations', ops).member('name').string(64);
      return `${nsName}:[${ino()}]`;
    }
    default:
      return undefined;
  }
}

/**
 * The path of (vfsmount, dentry) as the kernel's d_path prints it, walking up through mount points
 * to the global root: "/var/log/syslog". Names made up by pseudo file systems (pipe:[123],
 * socket:[456], anon_inode:[eventfd]) come as d_path gives them.
 */
export function dPath(dump: CrashDump, vfsmount: KObject, dentry: KObject): string {
  const isRoot = (d: KObject) => d.member('d_parent').pointer() === d.address;
  let mnt = vfsmount.containerOf('struct mount', 'mnt');
  let d = dentry;
  if (!(isRoot(d) && d.address === mnt.member('mnt.mnt_root').pointer())) {
    const dyn = dynamicName(dump, d);
    if (dyn !== undefined) return dyn;
  }
  const parts: string[] = [];
  for (let i = 0; ; i++) {
    if (i > MAX_DEPTH) throw new ObjectError(`d_path: more than ${MAX_DEPTH} path components (a loop?)`, dentry.address);
    const mntRoot = mnt.member('mnt.mnt_root').pointer();
    if (d.address === mntRoot || isRoot(d)) {
      const parent = mnt.member('mnt_parent').deref();
      if (parent.address === mnt.address || d.address !== mntRoot) break; // the global root, or not reachable from it
      d = mnt.member('mnt_mountpoint').deref();
      mnt = parent;
      continue;
    }
    parts.push(dentryName(d));
    d = d.member('d_parent').deref();
  }
  return '/' + parts.reverse().join('/');
}

/** d_path of a struct path (or a pointer to one). */
export function pathString(dump: CrashDump, path: KObject): string {
  return dPath(dump, path.member('mnt').deref(), path.member('dentry').deref());
}

/** One open file of a task. */
export interface OpenFile {
  /** The file descriptor. */
  fd: number;
  /** The struct file. */
  file: KObject;
  /** Its path as d_path prints it. */
  path: string;
}

/** The most file descriptors a task can have: the kernel's sysctl_nr_open (fs.nr_open), else its default 1 << 20. */
function maxOpenFiles(dump: CrashDump): number {
  try {
    if (dump.hasSymbol('sysctl_nr_open')) return dump.object('sysctl_nr_open', 'unsigned int').number();
  } catch (e) {
    if (!isApiError(e)) throw e;
  }
  return 1 << 20;
}

/** The open files of a task (struct task_struct), by fd; [] for a task without files (exited). */
export function taskFiles(dump: CrashDump, task: KObject): OpenFile[] {
  const files = task.member('files');
  if (files.isNull()) return [];
  const fdt = files.member('fdt').deref();
  const max = fdt.member('max_fds').number();
  const limit = maxOpenFiles(dump);
  if (max < 0 || max > limit) throw new ObjectError(`fdtable.max_fds is ${max}, more than fs.nr_open (${limit}): damaged`, fdt.address);
  const fds = fdt.member('fd');
  // The fd array in one read (at most 8 MiB), then the files it points to.
  const array = fds.pointer();
  if (array === 0n) throw new ObjectError('fdtable.fd is NULL', fds.address);
  const raw = dump.read(array, max * 8);
  const dv = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const out: OpenFile[] = [];
  for (let fd = 0; fd < max; fd++) {
    const p = dv.getBigUint64(fd * 8, true);
    if (p === 0n) continue;
    const file = fds.index(fd).deref();
    out.push({ fd, file, path: pathString(dump, file.member('f_path')) });
  }
  return out;
}

/** One mount of a namespace. */
export interface MountInfo {
  /** What was mounted (mnt_devname): a device, "proc", "tmpfs", … */
  devname: string;
  /** Where, as d_path prints it. */
  mountpoint: string;
  /** The file system type (super_block.s_type->name). */
  fstype: string;
  /** The struct mount. */
  mount: KObject;
}

/** The struct mount objects of a mount namespace in its order (the list before 6.8, the rbtree since). */
export function namespaceMounts(ns: KObject): KObject[] {
  if (ns.hasMember('list')) return [...listEntries(ns.member('list'), 'struct mount', 'mnt_list')];
  return [...rbtreeEntries(ns.member('mounts'), 'struct mount', 'mnt_node')];
}

/** The mounts of init's mount namespace (init_task.nsproxy->mnt_ns), or of the one given. */
export function mounts(dump: CrashDump, ns?: KObject): MountInfo[] {
  const n = ns ?? dump.object('init_task').member('nsproxy').deref().member('mnt_ns').deref();
  return namespaceMounts(n).map((m) => {
    const vfs = m.member('mnt');
    return {
      devname: m.member('mnt_devname').string(4096),
      mountpoint: dPath(dump, vfs, vfs.member('mnt_root').deref()),
      fstype: vfs.member('mnt_sb').deref().member('s_type').deref().member('name').string(256),
      mount: m,
    };
  });
}
