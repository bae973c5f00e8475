# Oracle for examples/scripts/mounts.ts (issue 17): the mounts of init's (PID 1's) mount namespace in
# the namespace's order (its list before 6.8, its rb-tree since), as drgn's mount_src / mount_dst /
# mount_fstype give them (fstype carries a ".subtype" when the super block has one).
# Run: drgn -c DUMP -s VMLINUX mounts.py. Prints [{"devname", "mountpoint", "fstype"}].
import json

from drgn.helpers.linux.fs import for_each_mount, mount_dst, mount_fstype, mount_src
from drgn.helpers.linux.pid import find_task

init = find_task(prog, 1)
ns = init.nsproxy.mnt_ns if init else prog["init_task"].nsproxy.mnt_ns


def text(b):
    return b.decode("utf-8", "replace")


print(json.dumps([
    {"devname": text(mount_src(m)), "mountpoint": text(mount_dst(m)), "fstype": text(mount_fstype(m))}
    for m in for_each_mount(ns)
]))
