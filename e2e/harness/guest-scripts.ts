// The guest side of the harness: /init (busybox sh) and /e2e/lib.sh, which every stage script
// can use. The stage comes from the kernel command line (e2e.stage=NAME); /init mounts /proc,
// /sys, /dev, loads the disk modules, mounts the scratch disk (ext2, made by the host) at
// /scratch, runs /e2e/stage-NAME.sh, then powers off.
//
// Console protocol (read by the host, one line each):
//   E2E-MARK STAGE NAME UPTIME VALUE...   a marker: guest uptime in seconds, then a free value
// Marker "fail" (from `fail MSG`) or "exit" with a non-zero value fails the scenario.

/** mark and check, shared by the initramfs guests (LIB_SCRIPT) and the Debian systems' agent (AGENT_LIB). */
const MARK_HELPERS = String.raw`# mark NAME [VALUE...]: a marker line on the console
mark() { _n=$1; shift; echo "E2E-MARK $E2E_STAGE $_n $(cut -d' ' -f1 /proc/uptime) $*"; }
# check NAME CMD...: runs CMD (output on the console); fails the scenario if it exits non-zero
check() { _c=$1; shift; "$@" || fail "$_c: '$*' exited with $?"; }
`;

/** Runs the stage script at `path` (marks stage-start, then exit with its status) and powers off. */
function runStage(path: string): string {
  return String.raw`if [ -f "${path}" ]; then
  mark stage-start
  (cd /tmp && . "${path}")
  rc=$?
else
  echo "no script for stage '$E2E_STAGE'"
  rc=127
fi
mark exit $rc
finish
`;
}

export const LIB_SCRIPT = String.raw`# e2e guest helpers (sourced by /init and the stage scripts)
export PATH=/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
E2E_STAGE=$(sed -n 's/.*e2e\.stage=\([^ ]*\).*/\1/p' /proc/cmdline)
${MARK_HELPERS}# finish: flush the scratch disk and power off (QEMU exits)
finish() { sync; umount /scratch 2>/dev/null; poweroff -f; sleep 10; }
# fail MSG: a failure marker, then power off
fail() { mark fail "$*"; finish; }
# stage_cmdline STAGE [EXTRA...]: a command line for the next kernel, running stage STAGE
stage_cmdline() { _s=$1; shift; echo "$(cat /e2e/base-cmdline) e2e.stage=$_s $*"; }
# before kexec -e: make what is on the scratch disk durable
prepare_kexec() { sync; umount /scratch 2>/dev/null; true; }
`;

export const INIT_SCRIPT = String.raw`#!/bin/sh
/bin/busybox --install -s /bin
export PATH=/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
. /e2e/lib.sh
mark boot "$(uname -r)"
for m in $(cat /e2e/modules); do insmod "$m" || mark insmod-failed "$m"; done
i=0
while [ ! -b /dev/vda ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
if [ -b /dev/vda ]; then
  mount -t ext4 /dev/vda /scratch && mark disk mounted || mark disk mount-failed
else
  mark disk none
fi
${runStage('/e2e/stage-$E2E_STAGE.sh')}`;

// Real Debian systems (harness/debian-image.ts): systemd boots the installed system; the agent, a
// service ordered after multi-user.target, mounts the job disk (ext2 labelled E2EJOB, made by the
// host), runs the stage named in its file `next` (stages/NAME.sh, bash) and powers the system off.
// Markers go to the second serial port (ttyS1), so the console (ttyS0: GRUB, kernel, systemd) never
// interleaves with them. Each boot reports `boot` (uname -r), `running` (systemctl
// is-system-running --wait) and `multi-user` (multi-user.target's ActiveEnterTimestampMonotonic, µs).

/** The job disk's file system label. */
export const JOB_LABEL = 'E2EJOB';

/** /run/e2e-job/lib.sh: the helpers the stage scripts of a Debian system can use. */
export const AGENT_LIB = String.raw`# e2e agent helpers (sourced by the agent; stage scripts run in a subshell of it)
JOB=/run/e2e-job
${MARK_HELPERS}# finish: flush the job disk and power off cleanly (QEMU exits)
finish() { sync; systemctl poweroff; sleep 600; }
# fail MSG: a failure marker, then power off
fail() { mark fail "$*"; finish; }
# reboot_to STAGE [CMD...]: the next boot runs STAGE; marks reboot-cmd, then CMD (default: systemctl reboot)
reboot_to() { echo "$1" > $JOB/next; shift; [ $# -gt 0 ] || set -- systemctl reboot; sync; mark reboot-cmd "$*"; "$@"; sleep 600; fail "'$*' did not reboot"; }
`;

/** /usr/local/sbin/e2e-agent */
export const AGENT_SCRIPT = String.raw`#!/bin/bash
# kexec-ts e2e agent: runs the harness's stage script from the disk labelled ${JOB_LABEL}, if there is one.
exec >/dev/ttyS1 2>&1
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
dev=/dev/disk/by-label/${JOB_LABEL}
for i in $(seq 300); do [ -b $dev ] && break; sleep 0.1; done
[ -b $dev ] || exit 0
mkdir -p /run/e2e-job
mount -t ext2 $dev /run/e2e-job || { echo "E2E-MARK agent fail 0 cannot mount $dev"; exit 1; }
E2E_STAGE=$(cat /run/e2e-job/next)
: > /run/e2e-job/next
sync
. /run/e2e-job/lib.sh
mark boot "$(uname -r)"
state=$(systemctl is-system-running --wait)
mark running "$state"
[ "$state" = running ] || mark failed-units "$(systemctl list-units --failed --no-legend --plain | awk '{print $1}' | xargs)"
mark multi-user "$(systemctl show --value -p ActiveEnterTimestampMonotonic multi-user.target)"
${runStage('$JOB/stages/$E2E_STAGE.sh')}`;

/** /etc/systemd/system/e2e-agent.service (enabled through multi-user.target.wants). */
export const AGENT_UNIT = `[Unit]
Description=kexec-ts e2e agent (runs the test harness's stage from the disk labelled ${JOB_LABEL})
After=multi-user.target

[Service]
# simple, not oneshot: the agent waits for 'systemctl is-system-running --wait', which would wait for it
Type=simple
ExecStart=/usr/local/sbin/e2e-agent

[Install]
WantedBy=multi-user.target
`;
