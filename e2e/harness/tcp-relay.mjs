// QEMU's guestfwd command for a guest's connection (one process per connection): relays its
// stdin/stdout to 127.0.0.1:PORT on the host. The only address it connects to is 127.0.0.1.
import { connect } from 'node:net';

const port = Number(process.argv[2]);
if (!Number.isInteger(port) || port < 1 || port > 65535) process.exit(2);
const s = connect(port, '127.0.0.1');
process.stdin.pipe(s);
s.pipe(process.stdout);
process.stdin.on('end', () => s.end());
s.on('close', () => process.exit(0));
s.on('error', () => process.exit(1));
