# Oracle for examples/scripts/task-files.ts (issue 17): a task's open files (default PID 1) with their
# paths as d_path prints them (mount-aware). Run: drgn -c DUMP -s VMLINUX task-files.py [PID].
# Prints [{"fd", "path"}] sorted by fd.
import json
import sys

from drgn.helpers.linux.fs import d_path, for_each_file
from drgn.helpers.linux.pid import find_task

pid = int(sys.argv[1]) if len(sys.argv) > 1 else 1
task = find_task(prog, pid)
if not task:
    sys.exit(f"task-files: no task with PID {pid}")
files = []
for fd, file in for_each_file(task):
    if not file:
        continue
    files.append({"fd": fd, "path": d_path(file.f_path).decode("utf-8", "replace")})
files.sort(key=lambda f: f["fd"])
print(json.dumps(files))
