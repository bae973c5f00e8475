// vmcore-ts triage DUMP --collector URL --token-file FILE: the capture kernel's first step (issue 14).
// Computes the crash signature and sends it with the last log lines (kilobytes) to the collector,
// which answers whether it wants the dump. Exit 0: the collector has what it needs (known crash);
// 10: it wants the dump — stdout is then the URL for `vmcore-ts save --to URL --token-file FILE`;
// 1: the report could not be made or sent (save locally, as without a collector).
import { hostname } from 'node:os';
import { UsageError } from '../../errors.ts';
import { buildSummary } from '../../analyze/summary.ts';
import { openKernelDump } from '../../analyze/open-kernel-dump.ts';
import { API_PREFIX, HOST_NAME, type CrashReply, type CrashReport } from '../../collect/protocol.ts';
import { FileSource } from '../../host/file-source.ts';
import { httpFailure, readCa, readTokenFile, request, type HttpRequest, type HttpResponse } from '../../host/http-client.ts';
import { readSecretFile } from '../../host/secret-file.ts';
import type { Command } from './commands.ts';
import { jsonDocument, parseCommand, symbolFiles, symbolOptions, write } from './kernel-dump-args.ts';

export const TRIAGE_NEEDS_DUMP = 10;
export const TRIAGE_LOG_LINES = 50;

const USAGE =
  'vmcore-ts triage --collector URL --token-file FILE [--ca FILE] [--host NAME] [--lines N] [--json] DUMP\n' +
  '  Sends the crash signature and the last log lines to the collector before any dump is sent.\n' +
  '  Exit 0: a known crash, nothing more to send; 10: the collector wants the dump, and stdout is\n' +
  '  the URL to give `vmcore-ts save --to URL --token-file FILE DUMP`; 1: no answer (save locally).\n' +
  '  --collector URL    https://HOST[:PORT] (http:// only to 127.0.0.1)\n' +
  '  --token-file FILE  this host\'s token (mode 600); --ca FILE: the collector\'s CA certificate\n' +
  '  --host NAME        the name the token belongs to (default: the dump\'s node name, else hostname)\n' +
  `  --lines N          log lines sent (default ${TRIAGE_LOG_LINES})`;

export const triageCommand: Command = {
  summary: 'send the crash signature and log to a collector; exit 10 when it wants the dump',
  async run(argv) {
    const a = parseCommand(argv, { ...symbolOptions, collector: { type: 'string' }, 'token-file': { type: 'string' }, ca: { type: 'string' }, host: { type: 'string' }, lines: { type: 'string' } }, USAGE, [1, 1]);
    if (!a) return 0;
    const v = a.values as Record<string, string | boolean | undefined>;
    const dump = new FileSource(a.positionals[0]!); // a missing dump: ENOENT first
    if (typeof v.collector !== 'string') throw new UsageError('--collector URL is required');
    if (typeof v['token-file'] !== 'string') throw new UsageError('--token-file FILE is required');
    let base: URL;
    try {
      base = new URL(v.collector);
    } catch {
      throw new UsageError(`--collector ${v.collector}: not a URL`);
    }
    if (base.protocol !== 'https:' && !(base.protocol === 'http:' && ['127.0.0.1', 'localhost', '[::1]'].includes(base.hostname))) {
      throw new UsageError(`--collector ${v.collector}: use https:// (http:// only to 127.0.0.1)`);
    }
    const lines = v.lines === undefined ? TRIAGE_LOG_LINES : Number(v.lines);
    if (!Number.isInteger(lines) || lines < 1 || lines > 10_000) throw new UsageError('--lines wants a number 1-10000');
    const token = readTokenFile(v['token-file'], readSecretFile);
    const ca = readCa(typeof v.ca === 'string' ? v.ca : undefined);
    const kd = openKernelDump(dump, symbolFiles(v));
    const s = buildSummary(kd, lines);
    const host = (v.host as string | undefined) ?? (s.system.nodename && HOST_NAME.test(s.system.nodename) ? s.system.nodename : hostname());
    if (!HOST_NAME.test(host)) throw new UsageError(`--host ${host}: not a host name`);
    const report: CrashReport = { host, signature: s.signature, log: s.lastLog.join('\n') + '\n' };
    const origin = base.origin;
    const req: HttpRequest = {
      method: 'POST',
      url: `${origin}${API_PREFIX}/crashes`,
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: new TextEncoder().encode(JSON.stringify(report)),
      ca,
      timeoutMs: 60_000,
    };
    let res: HttpResponse;
    try {
      res = await request(req);
    } catch (e) {
      throw httpFailure(req, undefined, e);
    }
    if (res.status !== 201) throw httpFailure(req, res);
    const reply = JSON.parse(new TextDecoder().decode(res.body)) as CrashReply;
    const uploadUrl = reply.uploadPath ? `${origin}${reply.uploadPath}` : undefined;
    if (v.json) write(jsonDocument({ host, signature: s.signature, reply, ...(uploadUrl ? { uploadUrl } : {}) }) + '\n');
    else if (uploadUrl) write(uploadUrl + '\n');
    process.stderr.write(`vmcore-ts triage: bucket ${reply.bucket} (crash ${reply.count} of it), ${reply.needDump ? 'dump wanted' : 'no dump wanted'}: ${reply.why}\n`);
    return reply.needDump ? TRIAGE_NEEDS_DUMP : 0;
  },
};
