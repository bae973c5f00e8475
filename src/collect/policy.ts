// Which crashes the collector asks a full dump of: the first of every bucket, then a sample (every
// Nth, or a random share), and never more than a cap per bucket. Pure: the count comes from the
// index, the random number from the caller.
import { UsageError } from '../errors.ts';

export interface DumpPolicy {
  /** Also every Nth crash of a bucket (the Nth, 2Nth, ...); 0: never. */
  everyNth: number;
  /** Also this share of the other crashes, 0..1. */
  sampleRate: number;
  /** At most this many dumps per bucket (the first counts); 0: no cap. */
  maxDumpsPerBucket: number;
}

export const DEFAULT_POLICY: DumpPolicy = { everyNth: 0, sampleRate: 0, maxDumpsPerBucket: 5 };

export interface BucketState {
  /** Crashes seen in the bucket, this one included (1: the bucket is new). */
  count: number;
  /** Dumps already asked for in the bucket. */
  dumps: number;
}

export interface DumpDecision {
  needDump: boolean;
  why: string;
}

/** `random`: a number in [0, 1) (Math.random in the server; fixed in tests). */
export function needDump(state: BucketState, policy: DumpPolicy, random: number): DumpDecision {
  if (state.count <= 1) return { needDump: true, why: 'new bucket' };
  if (policy.maxDumpsPerBucket > 0 && state.dumps >= policy.maxDumpsPerBucket) {
    return { needDump: false, why: `known bucket: ${state.dumps} dumps already (the cap)` };
  }
  if (policy.everyNth > 0 && state.count % policy.everyNth === 0) return { needDump: true, why: `crash ${state.count} of the bucket (every ${policy.everyNth})` };
  if (policy.sampleRate > 0 && random < policy.sampleRate) return { needDump: true, why: `sampled (rate ${policy.sampleRate})` };
  return { needDump: false, why: `known bucket (seen ${state.count} times)` };
}

/** `--every N --sample RATE --max-dumps N` as a policy; errors name the option. */
export function parsePolicy(opts: { every?: string; sample?: string; maxDumps?: string }): DumpPolicy {
  const p = { ...DEFAULT_POLICY };
  if (opts.every !== undefined) {
    if (!/^\d+$/.test(opts.every)) throw new UsageError(`--every ${opts.every}: give a whole number (0: never)`);
    p.everyNth = Number(opts.every);
  }
  if (opts.sample !== undefined) {
    const r = Number(opts.sample);
    if (!/^[\d.]+$/.test(opts.sample) || !(r >= 0 && r <= 1)) throw new UsageError(`--sample ${opts.sample}: give a share from 0 to 1`);
    p.sampleRate = r;
  }
  if (opts.maxDumps !== undefined) {
    if (!/^\d+$/.test(opts.maxDumps)) throw new UsageError(`--max-dumps ${opts.maxDumps}: give a whole number (0: no cap)`);
    p.maxDumpsPerBucket = Number(opts.maxDumps);
  }
  return p;
}
