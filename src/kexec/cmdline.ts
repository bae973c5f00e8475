// The new kernel's command line from kexec-tools' options. Pure.

/** The command line: /proc/cmdline (--reuse-cmdline, without BOOT_IMAGE= and, for crash loads, crashkernel=), --command-line, --append. */
export function buildCmdline(o: { reuse?: string; commandLine?: string; append?: string; crash: boolean }): string {
  const parts: string[] = [];
  if (o.reuse !== undefined) {
    parts.push(
      o.reuse
        .split(/\s+/)
        .filter((w) => w && !w.startsWith('BOOT_IMAGE=') && !(o.crash && w.startsWith('crashkernel=')))
        .join(' '),
    );
  }
  if (o.commandLine !== undefined) parts.push(o.commandLine);
  if (o.append !== undefined) parts.push(o.append);
  return parts.filter(Boolean).join(' ');
}

