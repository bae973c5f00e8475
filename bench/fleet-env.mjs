// Imported first by the benches that time our CLIs: they run them, and the reference tools, in the
// environment of a server's kdump service or an SRE's shell on it, not in this sandbox's. The one
// difference that shows: NODE_EXTRA_CA_CERTS, which the sandbox sets for its TLS proxy and no Debian
// server or capture kernel has. Node reads and parses that CA file at every start, before any script
// runs (OpenSSL 3's decoders: ~35 ms of a 57 ms `node -e 0` here), and only node pays it: makedumpfile,
// crash and drgn do not read it. BENCH_KEEP_EXTRA_CA=1 keeps it, to measure that start as well.
const extra = process.env.NODE_EXTRA_CA_CERTS;
if (extra !== undefined && process.env.BENCH_KEEP_EXTRA_CA !== '1') {
  delete process.env.NODE_EXTRA_CA_CERTS;
  console.log(`(NODE_EXTRA_CA_CERTS=${extra} left out of every timed command, as on a server; BENCH_KEEP_EXTRA_CA=1 keeps it)`);
}
