// The guest side of the harness: /init (busybox sh) and /e2e/lib.sh, which every stage script
// can use. The stage comes from the kernel command line (e2e.stage=NAME); /init mounts /proc,
// /sys, /dev, loads the disk modules, mounts the scratch disk (ext2, made by the host) at
// /scratch, runs /e2e/stage-NAME.sh, then powers off.
//
// Console protocol (read by the host, one line each):
//   E2E-MARK STAGE NAME UPTIME VALUE...   a marker: guest uptime in seconds, then a free value
// Marker "fail" (from `fail MSG`) or "exit" with a non-zero value fails the scenario.

export const LIB_SCRIPT = String.raw`# e2e guest helpers (sourced by /init and the stage scripts)
export PATH=/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
E2E_STAGE=$(sed -n 's/.*e2e\.stage=\([^ ]*\).*/\1/p' /proc/cmdline)
# mark NAME [VALUE...]: a marker line on the console
mark() { _n=$1; shift; echo "E2E-MARK $E2E_STAGE $_n $(cut -d' ' -f1 /proc/uptime) $*"; }
# finish: flush the scratch disk and power off (QEMU exits)
finish() { sync; umount /scratch 2>/dev/null; poweroff -f; sleep 10; }
# fail MSG: a failure marker, then power off
fail() { mark fail "$*"; finish; }
# check NAME CMD...: runs CMD (output on the console); fails the scenario if it exits non-zero
check() { _c=$1; shift; "$@" || fail "$_c: '$*' exited with $?"; }
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
if [ -f "/e2e/stage-$E2E_STAGE.sh" ]; then
  mark stage-start
  (cd /tmp && . "/e2e/stage-$E2E_STAGE.sh")
  rc=$?
else
  echo "no script for stage '$E2E_STAGE'"
  rc=127
fi
mark exit $rc
finish
`;
