# Oracle for examples/scripts/runqueues.ts (issue 17): each possible CPU's runqueue: nr_running, the
# current task's pid, and the pids queued on it: the task sched_entities on rq.cfs's own
# tasks_timeline rb-tree (group entities, whose my_q is set, are skipped, not descended into), plus
# the tasks on the RT priority queues. Run: drgn -c DUMP -s VMLINUX runqueues.py.
# Prints [{"cpu", "nrRunning", "curr", "queued": [pids sorted]}].
import json

from drgn import container_of
from drgn.helpers.linux.cpumask import for_each_possible_cpu
from drgn.helpers.linux.rbtree import rbtree_inorder_for_each_entry
from drgn.helpers.linux.sched import cpu_rq, rq_for_each_rt_task


def is_task(se):
    try:
        return not se.my_q
    except AttributeError:
        return True


out = []
for cpu in for_each_possible_cpu(prog):
    rq = cpu_rq(prog, cpu)
    pids = []
    timeline = rq.cfs.tasks_timeline
    root = timeline.rb_root if hasattr(timeline, "rb_root") else timeline
    for se in rbtree_inorder_for_each_entry("struct sched_entity", root.address_of_(), "run_node"):
        if is_task(se):
            pids.append(container_of(se, "struct task_struct", "se").pid.value_())
    for task in rq_for_each_rt_task(rq):
        pids.append(task.pid.value_())
    out.append({
        "cpu": cpu,
        "nrRunning": rq.nr_running.value_(),
        "curr": rq.curr.pid.value_(),
        "queued": sorted(pids),
    })
print(json.dumps(out))
