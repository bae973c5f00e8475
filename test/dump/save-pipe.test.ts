// `vmcore-ts save -F` writes the flattened stream to fd 1 with synchronous writes (RHEL's
// `makedumpfile -F | ssh` target). They must wait in the kernel for the reader: when the pipe was
// non-blocking (the compression workers' output forwarding made it so), each EAGAIN slept 5 ms,
// 30–40 s of a 64 GiB save (BENCHMARKS.md).
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { writeAllSync } from '../../src/host/file-sink.ts';
import { loadKoffi } from '../../src/host/koffi.ts';

test('writeAllSync into a non-blocking pipe whose reader is slow: the pipe is made blocking and every byte arrives, in order', async () => {
  // The parent's end of a child's stdin pipe is non-blocking (libuv): 1 MiB meets EAGAIN after 64 KiB.
  const child = spawn('sh', ['-c', 'sleep 0.3; sha256sum'], { stdio: ['pipe', 'pipe', 'inherit'] });
  const fd = (child.stdin as unknown as { _handle: { fd: number } })._handle.fd;
  const fcntl = loadKoffi().load('libc.so.6').func('int fcntl(int fd, int cmd, ...)');
  const O_NONBLOCK = 0o4000;
  assert.notEqual((fcntl(fd, 3) as number) & O_NONBLOCK, 0, 'the test pipe starts non-blocking');
  const bytes = new Uint8Array(1 << 20).map((_, i) => (i * 131) & 0xff);
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  const closed = new Promise((resolve) => child.on('close', resolve));
  let flags: number;
  try {
    writeAllSync(fd, bytes);
    flags = fcntl(fd, 3) as number;
  } finally {
    child.stdin.end();
    await closed;
  }
  assert.equal(flags & O_NONBLOCK, 0, 'made blocking: the kernel waits for the reader, no sleeping per EAGAIN');
  assert.equal(out, spawnSync('sha256sum', { input: bytes, encoding: 'utf8' }).stdout);
});
