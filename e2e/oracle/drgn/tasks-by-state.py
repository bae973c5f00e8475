# Oracle for examples/scripts/tasks-by-state.ts (issue 17): task counts by ps state letter, and the
# D (uninterruptible) tasks with their kernel stacks. Run: drgn -c DUMP -s VMLINUX tasks-by-state.py
# Prints one JSON value: {"counts": {LETTER: n}, "D": [{"pid", "comm", "stack"}]}.
# An optional argument lists other states to give stacks for (e.g. "SDR"; default "D"): the oracle
# test uses it to check the stacks against `vmcore-ts bt` on dumps with no D task (the key stays "D").
# Idle (swapper) tasks are left out: for_each_task() without idle=True walks the PID namespace only.
# "stack" names the non-inlined kernel frames only, innermost first (drgn also lists inlined frames
# and the user-mode frame; a frame drgn cannot name is null).
import bisect
import json
import sys

from drgn import SymbolKind

from drgn.helpers.linux.pid import for_each_task
from drgn.helpers.linux.sched import task_state_to_char

KERNEL_START = 1 << 63  # x86_64 and arm64: kernel addresses have the top bit set


_labels = None


def kallsyms_name(pc):
    """The name kallsyms gives pc: the nearest function or label symbol at or below it. drgn's own
    frame.symbol() takes the sized symbol containing pc, which for assembly code is the outer one
    (entry_SYSCALL_64 where kallsyms, crash and vmcore-ts say entry_SYSCALL_64_after_hwframe)."""
    global _labels
    if _labels is None:
        syms = sorted(
            (s.address, s.name) for s in prog.symbols()
            if s.kind in (SymbolKind.FUNC, SymbolKind.UNKNOWN) and s.address >= KERNEL_START
        )
        _labels = ([a for a, _ in syms], [n for _, n in syms])
    i = bisect.bisect_right(_labels[0], pc) - 1
    return _labels[1][i] if i >= 0 else None


def frame_names(task):
    """The non-inlined kernel frames' names as kallsyms gives them (e.g. "foo.isra.0"), innermost
    first; the walk stops at the first user-mode frame."""
    names = []
    try:
        trace = prog.stack_trace(task)
    except Exception:
        return names
    for frame in trace:
        if frame.is_inline:
            continue
        if frame.pc < KERNEL_START:
            break
        # A return address can be just past the call's function: look up the call itself.
        name = kallsyms_name(frame.pc if frame.interrupted else frame.pc - 1)
        if name is None:
            name = frame.name
        names.append(name)
    return names


listed = sys.argv[1] if len(sys.argv) > 1 else "D"
counts = {}
blocked = []
for task in for_each_task(prog):
    state = task_state_to_char(task)
    counts[state] = counts.get(state, 0) + 1
    if state in listed:
        blocked.append({
            "pid": task.pid.value_(),
            "comm": task.comm.string_().decode("utf-8", "replace"),
            "stack": frame_names(task),
        })
blocked.sort(key=lambda t: t["pid"])
print(json.dumps({"counts": counts, "D": blocked}))
