// Sharding: which units (instances) one of n processes copies. Pure: the caller passes the flags and
// the environment. A unit's shard depends only on its id and n (the first 8 bytes of its SHA-256, as
// an unsigned big-endian integer, mod n), never on the order in which units were discovered, so n
// processes started with 0/n … (n-1)/n split every set of units into n disjoint parts that cover it.
import { createHash } from 'node:crypto';
import { Cdb2cosError } from '../errors.js';

export interface Shard {
  /** 0 ≤ index < count */
  index: number;
  count: number;
}

/** Most shards accepted: far more than any fleet needs, small enough to catch a typo like 3/30000. */
export const MAX_SHARDS = 1000;

/** The shard (0 … n-1) a unit id belongs to, for n shards. */
export function shardOf(id: string, count: number): number {
  if (!Number.isSafeInteger(count) || count < 1) throw new RangeError(`shard count must be a whole number ≥ 1: ${count}`);
  const head = createHash('sha256').update(id, 'utf8').digest().readBigUInt64BE(0);
  return Number(head % BigInt(count));
}

/** The units of `ids` that fall in `shard`; every id when there is no sharding. Keeps their order. */
export function inShard(ids: readonly string[], shard: Shard | undefined): string[] {
  return shard === undefined ? [...ids] : ids.filter((id) => shardOf(id, shard.count) === shard.index);
}

/** A decimal without sign, leading zeros or spaces: "0", "7", "12". */
function wholeNumber(text: string): number | undefined {
  return /^(0|[1-9]\d{0,5})$/.test(text) ? Number(text) : undefined;
}

function count(text: string, what: string): number {
  const n = wholeNumber(text);
  if (n === undefined || n < 1 || n > MAX_SHARDS) throw new Cdb2cosError('ERR_USAGE', `${what}: ${JSON.stringify(text)} is not a shard count from 1 to ${MAX_SHARDS}`);
  return n;
}

/** "i/n" → { index: i, count: n }; a one-line ERR_USAGE naming `what` for anything else. */
export function parseShard(text: string, what: string): Shard {
  const m = /^([^/]*)\/([^/]*)$/.exec(text);
  const index = m ? wholeNumber(m[1]!) : undefined;
  const n = m ? wholeNumber(m[2]!) : undefined;
  if (index === undefined || n === undefined) throw new Cdb2cosError('ERR_USAGE', `${what}: ${JSON.stringify(text)} is not a shard like 0/3 (index/count)`);
  if (n < 1 || n > MAX_SHARDS) throw new Cdb2cosError('ERR_USAGE', `${what}: the shard count must be from 1 to ${MAX_SHARDS}, got ${n}`);
  if (index >= n) throw new Cdb2cosError('ERR_USAGE', `${what}: the shard index must be below the count (0 to ${n - 1}), got ${index}/${n}`);
  return { index, count: n };
}

export interface ShardInputs {
  /** --shard i/n */
  shard?: string | undefined;
  /** --shards n */
  shards?: string | undefined;
  env: Record<string, string | undefined>;
}

const set = (v: string | undefined): string | undefined => (v === undefined || v === '' ? undefined : v);

/**
 * Which shard this process runs, or undefined for all units. In order: --shard i/n; CDB2COS_SHARD=i/n;
 * the count from --shards n (else CDB2COS_SHARDS) with the index from JOB_COMPLETION_INDEX (a Kubernetes
 * Indexed Job sets it in each pod). A count given with --shards/CDB2COS_SHARDS must agree with an i/n
 * chosen above it; a count without any index is an error rather than a silent full run.
 * JOB_COMPLETION_INDEX alone (no count anywhere) is ignored: an Indexed Job not meant to shard.
 */
export function resolveShard(input: ShardInputs): Shard | undefined {
  const flagShards = set(input.shards);
  const envShards = set(input.env['CDB2COS_SHARDS']);
  const n = flagShards !== undefined ? count(flagShards, '--shards') : envShards !== undefined ? count(envShards, 'CDB2COS_SHARDS') : undefined;
  const nFrom = flagShards !== undefined ? '--shards' : 'CDB2COS_SHARDS';
  const flagShard = set(input.shard);
  const envShard = set(input.env['CDB2COS_SHARD']);
  const explicit = flagShard !== undefined ? parseShard(flagShard, '--shard') : envShard !== undefined ? parseShard(envShard, 'CDB2COS_SHARD') : undefined;
  if (explicit !== undefined) {
    if (n !== undefined && n !== explicit.count) {
      throw new Cdb2cosError('ERR_USAGE', `${flagShard !== undefined ? '--shard' : 'CDB2COS_SHARD'} ${explicit.index}/${explicit.count} disagrees with ${nFrom} ${n}`);
    }
    return explicit;
  }
  if (n === undefined) return undefined;
  const jobIndex = set(input.env['JOB_COMPLETION_INDEX']);
  if (jobIndex === undefined) throw new Cdb2cosError('ERR_USAGE', `${nFrom} ${n}: needs the shard index: --shard i/${n}, CDB2COS_SHARD or JOB_COMPLETION_INDEX`);
  const index = wholeNumber(jobIndex);
  if (index === undefined) throw new Cdb2cosError('ERR_USAGE', `JOB_COMPLETION_INDEX: ${JSON.stringify(jobIndex)} is not a whole number`);
  if (index >= n) throw new Cdb2cosError('ERR_USAGE', `JOB_COMPLETION_INDEX ${index} is not below ${nFrom} ${n}; the Job's completions must equal the shard count`);
  return { index, count: n };
}
