# Runs a command on a pseudo-terminal and types into it, for test/boot/menu-pty.test.ts.
# argv[1]: JSON {"cmd": [...], "rows": R, "cols": C, "stdout": "pty"|"pipe", "steps": [...], "timeout": S}
# steps: {"wait": "text"} (until the screen output so far contains it), {"send": "bytes"},
#        {"sleep": seconds}, {"resize": [rows, cols]}, {"signal": N} (to the command).
# Prints one JSON document: {"code", "screen" (everything the pty received), "stdout" (with "pipe"),
# "waited" (seconds from start to exit), "failed" (the step that timed out, if any),
# "canonical"/"echo" (the terminal's ICANON and ECHO after the exit: a restored terminal has both)}.
import fcntl, json, os, pty, select, struct, subprocess, sys, termios, time

spec = json.loads(sys.argv[1])
master, slave = pty.openpty()


def winsize(rows, cols):
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


winsize(spec.get("rows", 24), spec.get("cols", 80))


def controlling_tty():
    os.setsid()
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


pipe = spec.get("stdout") == "pipe"
start = time.time()
proc = subprocess.Popen(
    spec["cmd"],
    stdin=slave,
    stdout=subprocess.PIPE if pipe else slave,
    stderr=slave,
    preexec_fn=controlling_tty,
    env={**os.environ, "TERM": "xterm-256color"},
)
screen = b""
stdout = b""
deadline = start + spec.get("timeout", 20)
failed = None


def pump(until):
    """Reads the pty (and the stdout pipe) until `until()` or the deadline; False on timeout."""
    global screen, stdout
    while True:
        if until():
            return True
        left = deadline - time.time()
        if left <= 0:
            return False
        fds = [master] + ([proc.stdout] if pipe and proc.stdout and not proc.stdout.closed else [])
        r, _, _ = select.select(fds, [], [], min(left, 0.05))
        for f in r:
            if f is master:
                try:
                    screen += os.read(master, 65536)
                except OSError:
                    pass
            else:
                chunk = os.read(f.fileno(), 65536)
                if chunk:
                    stdout += chunk
                else:
                    f.close()


for step in spec.get("steps", []):
    if "wait" in step:
        want = step["wait"].encode()
        mark = len(screen) if step.get("new") else 0
        if not pump(lambda: want in screen[mark:]):
            failed = step
            break
    elif "send" in step:
        os.write(master, step["send"].encode())
    elif "sleep" in step:
        end = time.time() + step["sleep"]
        pump(lambda: time.time() >= end)
    elif "signal" in step:
        os.kill(proc.pid, step["signal"])
    elif "resize" in step:
        winsize(*step["resize"])
        os.kill(proc.pid, 28)  # SIGWINCH

pump(lambda: proc.poll() is not None)
code = proc.poll()
if code is None:
    proc.kill()
    proc.wait()
    code = -9
# What is still buffered after the exit.
while select.select([master], [], [], 0.05)[0]:
    try:
        chunk = os.read(master, 65536)
    except OSError:
        break
    if not chunk:
        break
    screen += chunk
if pipe and proc.stdout and not proc.stdout.closed:
    stdout += proc.stdout.read()
lflag = termios.tcgetattr(slave)[3]
print(json.dumps({
    "canonical": bool(lflag & termios.ICANON),
    "echo": bool(lflag & termios.ECHO),
    "code": code,
    "screen": screen.decode("utf-8", "replace"),
    "stdout": stdout.decode("utf-8", "replace"),
    "waited": time.time() - start,
    "failed": failed,
}))
