# Oracle for examples/scripts/mutex-owner.ts (issue 17): who holds well-known global mutexes.
# Run: drgn -c DUMP -s VMLINUX mutex-owner.py [SYMBOL...]
# Prints [{"mutex": name, "owner": null | {"pid", "comm"}}]; a name the kernel lacks is skipped.
# The owner is the task_struct pointer in mutex.owner with the low 3 flag bits cleared (since 4.10
# an atomic_long_t; before, a plain task_struct pointer).
import json
import sys

from drgn import cast

DEFAULT = ["module_mutex", "cgroup_mutex", "text_mutex", "tty_mutex", "kprobe_mutex", "system_transition_mutex"]
names = sys.argv[1:] or DEFAULT
out = []
for name in names:
    try:
        mutex = prog.variable(name)
    except LookupError:
        continue
    owner = mutex.owner
    try:
        value = owner.counter.value_()
    except AttributeError:
        value = owner.value_()
    value &= ~7 & 0xFFFFFFFFFFFFFFFF
    if value == 0:
        out.append({"mutex": name, "owner": None})
        continue
    task = cast("struct task_struct *", value)
    out.append({
        "mutex": name,
        "owner": {"pid": task.pid.value_(), "comm": task.comm.string_().decode("utf-8", "replace")},
    })
print(json.dumps(out))
