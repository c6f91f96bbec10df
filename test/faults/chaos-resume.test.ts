// Chaos for staging part by part: a copy SIGKILLed at random moments, again and again, must still land
// byte for byte in the end, download no released part a second time, and leave nothing open or staged.
//
// The moments are drawn from a seeded PRNG (the seed is in each test's name; replay one with
// CDB2COS_CHAOS_SEED=<seed>). Each round kills the CLI either after a random time or at a random
// milestone watched from outside: bytes served, parts stored at the destination, a part file appearing
// or being removed, a state write that released parts (the window between that write and the removal of
// the files), or, from inside the emulator, CompleteMultipartUpload arriving or being answered.
//
// After each kill the on-disk promises are checked: every part the state records staged (not released)
// has its file whole, with the recorded CRC-64 and the source's bytes; a part is released only once
// every destination confirmed it; every part a destination's upload is recorded to hold is listed there
// with the recorded ETag and the part's CRC-64.
import assert from 'node:assert/strict';
import { copyFile, readFile, stat, truncate } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Emulator, EmulatorItem } from '@cdb2cos/emulator';
import { crc64OfBuffer, crc64ToString } from '../../src/hash/crc64.js';
import { assertStored, copiesIn, openUploadsIn, type Dest } from '../helpers/ends.js';
import { filesUnder, readLog, runCli, startCliFor, startTestEmulator, waitFor, type CliResult } from '../helpers/harness.js';

const MiB = 1024 * 1024;
const INSTANCE = 'cdb-chaos01';
const SIZE = 96 * MiB + 12_345; // a short last part
const PART = 4 * MiB;
const CONNECTIONS = 4;
const MANIFEST_KEY = `.cdb2cos/manifest-${INSTANCE}.json`;
const STATE_SUFFIX = '.cdb2cos-state.json';

const SEED = process.env['CDB2COS_CHAOS_SEED'] !== undefined ? Number(process.env['CDB2COS_CHAOS_SEED']) >>> 0 : (Date.now() ^ (process.pid << 16)) >>> 0;

/** mulberry32: small, seedable, good enough to pick moments. */
function prng(seed: number): { next: () => number; int: (lo: number, hi: number) => number; pick: <T>(xs: readonly T[]) => T } {
  let a = seed >>> 0;
  const next = (): number => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return { next, int: (lo, hi) => lo + Math.floor(next() * (hi - lo + 1)), pick: (xs) => xs[Math.floor(next() * xs.length)]! };
}

type AfterHook = { after: (fn: () => Promise<void> | void) => void };

interface Setup {
  emu: Emulator;
  item: EmulatorItem;
  cfg: string;
  staging: string;
  logs: string;
  /** The emulator's bucket of each destination, and the state's destination kind for it. */
  dests: Array<{ dest: Dest; kind: string }>;
}

async function setup(t: AfterHook, withS3: boolean): Promise<Setup> {
  const emu = await startTestEmulator(t, { instances: [{ id: INSTANCE, items: [{ type: 'data', size: SIZE, minutesAgo: 60 }] }] });
  const item = emu.catalog.list(INSTANCE, 'data')[0]!;
  const cfg = await emu.writeConfig(join(emu.info.dataDir, 'c.ini'), {
    cdb: { types: 'data' },
    transfer: { part_size: '4MiB', connections: CONNECTIONS },
    ...(withS3 ? { s3: emu.s3Config('oss') } : {}),
  });
  const dests: Setup['dests'] = [{ dest: 'cos', kind: 'cos' }];
  if (withS3) dests.push({ dest: 'oss', kind: 's3' });
  return { emu, item, cfg, staging: join(emu.info.dataDir, 'staging'), logs: join(emu.info.dataDir, 'logs'), dests };
}

const served = (s: Setup): number => s.emu.downloads.bytesServed()[s.item.key] ?? 0;
const partLen = (n: number): number => Math.min(PART, SIZE - (n - 1) * PART);
const stripQuotes = (e: string): string => e.replace(/^"|"$/g, '').toLowerCase(); // OSS answers in capitals

interface PartRec {
  crc64: string;
  released?: boolean;
}
interface UploadRec {
  uploadId?: string;
  uploaded: Record<string, string>;
  verified?: unknown;
}
interface StateRec extends UploadRec {
  dest?: string;
  downloaded: Record<string, PartRec>;
  others?: Record<string, UploadRec>;
}

async function readStateFile(s: Setup): Promise<{ data: string; st: StateRec } | undefined> {
  const rel = (await filesUnder(s.staging)).find((f) => f.endsWith(STATE_SUFFIX));
  if (rel === undefined) return undefined;
  const path = join(s.staging, rel);
  const text = await readFile(path, 'utf8').catch(() => undefined);
  if (text === undefined) return undefined;
  return { data: path.slice(0, -STATE_SUFFIX.length), st: JSON.parse(text) as StateRec };
}

function uploadsOf(st: StateRec): Array<{ kind: string; up: UploadRec }> {
  return [{ kind: st.dest ?? 'cos', up: st }, ...Object.entries(st.others ?? {}).map(([kind, up]) => ({ kind, up }))];
}

/** Bytes of the parts a state records fully fetched (staged or released): a run needs never fetch them again. */
const recordedBytes = (st: StateRec | undefined): number => Object.keys(st?.downloaded ?? {}).reduce((n, k) => n + partLen(Number(k)), 0);
const releasedCount = (st: StateRec | undefined): number => Object.values(st?.downloaded ?? {}).filter((p) => p.released === true).length;

/** What a SIGKILL at any moment must leave on disk and at the destinations (see the header). */
async function checkAfterKill(s: Setup, ctx: string, opts: { releasedConfirmed?: boolean } = {}): Promise<{ releasedFilesLeft: number }> {
  const found = await readStateFile(s);
  if (found === undefined) return { releasedFilesLeft: 0 }; // killed before the first state write: nothing promised yet
  let releasedFilesLeft = 0;
  const { data, st } = found;
  const expected = s.emu.expectedContent(INSTANCE, 'data', s.item.name);
  for (const [k, p] of Object.entries(st.downloaded)) {
    const n = Number(k);
    if (p.released === true) {
      // Released once every destination confirmed it; an upload started over since (a whole object
      // that failed its check) lacks it until it is fetched again.
      if (opts.releasedConfirmed !== false) for (const { kind, up } of uploadsOf(st)) assert.ok(up.uploaded[k] !== undefined || up.verified !== undefined, `${ctx}: part ${n} released but ${kind} never confirmed it`);
      // Killed between the state write and the file's removal: the next run removes it.
      if (await stat(join(data, `part-${n}`)).then(() => true, () => false)) releasedFilesLeft++;
      continue;
    }
    const buf = await readFile(join(data, `part-${n}`)).catch(() => undefined);
    assert.ok(buf !== undefined, `${ctx}: part ${n} recorded staged but its file is gone`);
    assert.equal(buf.length, partLen(n), `${ctx}: part ${n} recorded staged but its file is short`);
    assert.equal(crc64ToString(await crc64OfBuffer(buf)), p.crc64, `${ctx}: part ${n}'s file has not the recorded CRC-64`);
    assert.ok(buf.equals(expected.at((n - 1) * PART, partLen(n))), `${ctx}: part ${n}'s file has not the source's bytes`);
  }
  for (const { kind, up } of uploadsOf(st)) {
    if (up.uploadId === undefined) continue;
    const dest = s.dests.find((d) => d.kind === kind)!.dest;
    const uploads = dest === 'cos' ? s.emu.cos.openUploads(s.emu.info.bucket) : s.emu.s3.openUploads(s.emu.info.s3[dest].bucket);
    const open = uploads.find((u) => u.uploadId === up.uploadId);
    if (open === undefined) continue; // completed (the reply may have been lost to the kill): the final run checks the object
    for (const [k, etag] of Object.entries(up.uploaded)) {
      const part: { partNumber: number; etag: string; crc64: string } | undefined = open.parts.find((q) => q.partNumber === Number(k));
      assert.ok(part, `${ctx}: ${kind} recorded to hold part ${k} but does not`);
      assert.equal(stripQuotes(part.etag), stripQuotes(etag), `${ctx}: ${kind} part ${k}'s ETag`);
      assert.equal(part.crc64, st.downloaded[k]?.crc64, `${ctx}: ${kind} part ${k}'s CRC-64 against the recorded one`);
    }
  }
  return { releasedFilesLeft };
}

/**
 * No download since request `from` asked for bytes of a part the state recorded fetched (staged or
 * released) before the run: nothing here loses an upload, so no released part is ever needed anew, and
 * a part recorded staged has its file whole (checkAfterKill). Only the probe of a resumed copy
 * (`bytes=0-0`) may touch such a part.
 */
function assertNoRefetch(s: Setup, before: StateRec | undefined, from: number, ctx: string): void {
  const recorded = Object.keys(before?.downloaded ?? {}).map(Number);
  for (const q of s.emu.downloads.requests.slice(from)) {
    if (q.method !== 'GET' || q.range === 'bytes=0-0') continue;
    const m = /^bytes=(\d+)-(\d+)$/.exec(q.range ?? '');
    assert.ok(m, `${ctx}: a download without a range: ${q.range}`);
    const [a, b] = [Number(m[1]), Number(m[2])];
    const hit = recorded.filter((n) => a < (n - 1) * PART + partLen(n) && b >= (n - 1) * PART);
    assert.deepEqual(hit, [], `${ctx}: ${q.range} fetched again part(s) recorded fetched (${hit.map((n) => `${n}${before!.downloaded[n]!.released === true ? ' released' : ''}`).join(', ')})`);
  }
}

type Milestone = 'time' | 'served' | 'stored' | 'partFile' | 'partRemoved' | 'released' | 'complete';
const MILESTONES: readonly Milestone[] = ['time', 'served', 'stored', 'partFile', 'partRemoved', 'released', 'complete'];
/** A milestone not reached by then kills anyway (the copy may be past it). */
const MILESTONE_CAP_MS = 2500;

/**
 * One round: starts the CLI, kills it (SIGKILL) at a moment drawn from rnd, checks what it left.
 * Returns the run's result when it finished on its own before the moment came.
 */
async function killRound(t: AfterHook, s: Setup, rnd: ReturnType<typeof prng>, round: number, seed: number): Promise<{ what: string; finished?: CliResult }> {
  // Complete comes only once every part is fetched: drawn then (and only then), half the time.
  const fetchedAll = recordedBytes((await readStateFile(s))?.st) === SIZE;
  const mode: Milestone = fetchedAll && rnd.next() < 0.5 ? 'complete' : rnd.pick(MILESTONES.filter((m) => m !== 'complete'));
  const servedAt0 = served(s);
  const cosOps = (op: string): number => s.emu.cos.requests.filter((q) => q.op === op && q.status === 200).length;
  const s3Ops = (op: string): number => s.emu.s3.requests.filter((q) => q.op === op && q.status === 200).length;
  const stored0 = cosOps('UploadPart') + s3Ops('UploadPart');
  const released0 = releasedCount((await readStateFile(s))?.st);
  let what: string = mode;
  let exited = false;

  // 'complete': killed from inside the emulator as a destination gets CompleteMultipartUpload, before
  // or after handling it (the destination then holds the object, the CLI never heard).
  const server = s.dests.length > 1 && rnd.next() < 0.5 ? s.emu.s3 : s.emu.cos;
  const handle = server.handle.bind(server);
  const current: { run?: ReturnType<typeof startCliFor> } = {};
  let killedInside = false;
  if (mode === 'complete') {
    const after = rnd.next() < 0.5;
    what = `complete(${server === s.emu.cos ? 'cos' : 'oss'}, ${after ? 'as it replied' : 'as it arrived'})`;
    server.handle = (req, res) => {
      if (!killedInside && req.method === 'POST' && /[?&]uploadId=/.test(req.url ?? '')) {
        if (!after) {
          killedInside = true;
          current.run?.child.kill('SIGKILL');
        } else {
          const end = res.end.bind(res) as (...args: unknown[]) => typeof res;
          res.end = ((...args: unknown[]) => {
            if (!killedInside) {
              killedInside = true;
              current.run?.child.kill('SIGKILL');
            }
            return end(...args);
          }) as typeof res.end;
        }
      }
      handle(req, res);
    };
  }
  const run = (current.run = startCliFor(t, ['run', '--config', s.cfg]));
  const done = run.done.then((r) => {
    exited = true;
    return r;
  });

  const poll = async (probe: () => boolean | Promise<boolean>): Promise<boolean> => {
    const end = Date.now() + MILESTONE_CAP_MS;
    while (!exited && Date.now() < end) {
      if (await probe()) return true;
      await sleep(10);
    }
    return false;
  };
  const partFiles = async (): Promise<Set<string>> => new Set((await filesUnder(s.staging)).filter((f) => /\/part-\d+$/.test(f)));
  let hit = true;
  switch (mode) {
    case 'time': {
      const ms = rnd.int(300, 3000);
      what = `time(${ms} ms)`;
      await Promise.race([sleep(ms), done]);
      break;
    }
    case 'served': {
      const want = rnd.int(1, 24) * MiB + rnd.int(0, MiB);
      what = `served(${(want / MiB).toFixed(2)} MiB)`;
      hit = await poll(() => served(s) - servedAt0 >= want);
      break;
    }
    case 'stored': {
      const want = rnd.int(1, 10);
      what = `stored(${want} parts)`;
      hit = await poll(() => cosOps('UploadPart') + s3Ops('UploadPart') - stored0 >= want);
      break;
    }
    case 'partFile': {
      const want = rnd.int(1, 8);
      what = `partFile(${want} new)`;
      const before = await partFiles();
      hit = await poll(async () => [...(await partFiles())].filter((f) => !before.has(f)).length >= want);
      break;
    }
    case 'partRemoved': {
      let seen = await partFiles();
      hit = await poll(async () => {
        const now = await partFiles();
        const gone = [...seen].some((f) => !now.has(f));
        seen = new Set([...seen, ...now]);
        return gone;
      });
      break;
    }
    case 'released': {
      // Right after a state write that released more parts: their files may not be removed yet.
      hit = await poll(async () => releasedCount((await readStateFile(s).catch(() => undefined))?.st) > released0);
      break;
    }
    case 'complete':
      hit = await Promise.race([done.then(() => true), sleep(MILESTONE_CAP_MS * 2).then(() => false)]);
      break;
  }
  if (!hit) what += ' (not reached: killed at the cap)';
  if (!exited) run.child.kill('SIGKILL');
  const r = await done;
  server.handle = handle;
  what = `round ${round}: ${what}, served ${((served(s) - servedAt0) / MiB).toFixed(1)} MiB`;
  if (r.signal !== 'SIGKILL') {
    // The copy finished before the moment came: a legitimate end (checked by the caller).
    assert.equal(r.code, 0, `${what}: ${r.stderr}`);
    return { what: `${what}, finished on its own`, finished: r };
  }
  const { releasedFilesLeft } = await checkAfterKill(s, `${what} (seed ${seed})`);
  return { what: releasedFilesLeft > 0 ? `${what}, ${releasedFilesLeft} released part file(s) not yet removed` : what };
}

async function manifestCrc(s: Setup, dest: Dest, key: string): Promise<string | undefined> {
  const stream = dest === 'cos' ? s.emu.cos.readObject(s.emu.info.bucket, MANIFEST_KEY) : s.emu.s3.readObject(s.emu.info.s3[dest].bucket, MANIFEST_KEY);
  let text = '';
  for await (const chunk of stream as AsyncIterable<Buffer>) text += chunk.toString();
  return (JSON.parse(text) as { objects: Record<string, { crc64?: string }> }).objects[key]?.crc64;
}

/** The chaos loop and what must hold in the end; returns the rounds' story for messages. */
async function chaos(t: AfterHook, s: Setup, seed: number): Promise<void> {
  const rnd = prng(seed);
  // ~6–7 s for one undisturbed run: downloads at 6 MiB/s per connection (4: 24 MiB/s, 4 s), uploads
  // at 16 MiB/s per destination (the emulator's upload throttle is for the whole server: 6 s).
  s.emu.downloads.faults.throttle(6 * MiB);
  s.emu.cos.faults.throttleUploads(16 * MiB);
  s.emu.s3.faults.throttleUploads(16 * MiB);
  const kills = rnd.int(5, 8);
  const story: string[] = [];
  let finished: CliResult | undefined;
  for (let i = 1; i <= kills && finished === undefined; i++) {
    const before = (await readStateFile(s))?.st;
    const requestsAt0 = s.emu.downloads.requests.length;
    const round = await killRound(t, s, rnd, i, seed);
    const what = `${round.what}; at its start ${Object.keys(before?.downloaded ?? {}).length} parts recorded fetched, ${releasedCount(before)} released`;
    story.push(what);
    finished = round.finished;
    assertNoRefetch(s, before, requestsAt0, `seed ${seed}: ${what}\n${story.join('\n')}`);
  }
  const ctx = `seed ${seed} (replay: CDB2COS_CHAOS_SEED=${seed})\n${story.join('\n')}`;

  s.emu.clearFaults();
  const requestsBeforeFinal = s.emu.downloads.requests.length;
  const before = await readStateFile(s);
  const r = finished ?? (await runCli(['run', '--config', s.cfg], { timeoutMs: 60_000 }));
  assert.equal(r.code, 0, `${ctx}\n${r.stderr}`);
  assert.doesNotMatch(r.stderr, /Warning|^\s+at /m, `${ctx}: no Node warning or stack trace on stderr (cron mails it)`);
  if (finished === undefined) assertNoRefetch(s, before?.st, requestsBeforeFinal, `${ctx}\nthe final run`);

  const expected = s.emu.expectedContent(INSTANCE, 'data', s.item.name);
  for (const { dest } of s.dests) {
    const keys = copiesIn(s.emu, dest);
    assert.equal(keys.length, 1, `${ctx}\n${dest}: one object: ${keys.join(', ')}`);
    await assertStored(s.emu, dest, keys[0]!, expected);
    assert.equal(await manifestCrc(s, dest, keys[0]!), (await expected.crc64()).toString(), `${ctx}\n${dest}: the manifest records the verified copy`);
    assert.deepEqual(openUploadsIn(s.emu, dest), [], `${ctx}\n${dest}: no multipart upload left open`);
  }
  assert.deepEqual(await filesUnder(s.staging), [], `${ctx}\nnothing left in the staging dir`);
  // In all runs together: the item once, plus per kill what it can lose: the parts in flight (a part
  // is fetched whole again, never from the middle: ≤ CONNECTIONS × PART) and the parts completed since
  // the last state write (written at most every 0.5 s: ≤ 3 parts at 24 MiB/s; 4 allowed for a loaded
  // machine) = 32 MiB per kill. Measured: 9–20 MiB per kill, 0 for a kill during the uploads only. A
  // run fetching again the parts earlier runs released would fetch up to the whole item again each
  // round and break this bound once a few rounds are past (assertNoRefetch breaks at the first such
  // byte).
  const total = served(s);
  const bound = SIZE + story.length * (CONNECTIONS + 4) * PART;
  assert.ok(total <= bound, `${ctx}\nfetched ${total} bytes in all, bound ${bound}`);
  // The figures that justify the bound, for whoever reads the run.
  console.log(`# chaos seed ${seed}: ${story.length} rounds, fetched ${(total / MiB).toFixed(1)} MiB in all for ${(SIZE / MiB).toFixed(1)} MiB\n# ${story.join('\n# ')}`);
}

test(`SIGKILL at random moments, again and again, until a run finishes: the object lands byte for byte, recorded, nothing open, nothing staged (seed ${SEED})`, async (t) => {
  const s = await setup(t, false);
  await chaos(t, s, SEED);
});

test(`the same chaos with two destinations, COS and S3 (provider = oss): both land identical and both are recorded (seed ${(SEED + 1) >>> 0})`, async (t) => {
  const s = await setup(t, true);
  await chaos(t, s, (SEED + 1) >>> 0);
});

test('after a kill: a released part\'s file found again with wrong bytes is removed, never sent; a staged part\'s file found truncated is fetched again', async (t) => {
  const s = await setup(t, false);
  // Downloads fast, uploads slow: parts released (uploaded) and parts staged (not yet) at the kill.
  s.emu.cos.faults.throttleUploads(2 * MiB);
  const run = startCliFor(t, ['run', '--config', s.cfg]);
  let found: { data: string; st: StateRec } | undefined;
  for (const deadline = Date.now() + 30_000; ; ) {
    found = await readStateFile(s).catch(() => undefined);
    const parts = Object.entries(found?.st.downloaded ?? {});
    if (parts.filter(([, p]) => p.released === true).length >= 2 && parts.filter(([, p]) => p.released !== true).length >= 2) break;
    assert.ok(Date.now() < deadline, 'timed out waiting for parts released and parts staged');
    await sleep(20);
  }
  run.child.kill('SIGKILL');
  assert.equal((await run.done).signal, 'SIGKILL');
  found = (await readStateFile(s))!;
  const { data, st } = found;
  const released = Object.keys(st.downloaded).filter((k) => st.downloaded[k]!.released === true).map(Number);
  const staged = Object.keys(st.downloaded).filter((k) => st.downloaded[k]!.released !== true).map(Number);
  // Parts staged are whole (the killed run wrote the state after the bytes).
  await checkAfterKill(s, 'after the kill');
  const stale = released[0]!;
  const [donor, cut] = staged.filter((n) => partLen(n) === PART) as [number, number];
  assert.ok(donor !== undefined && cut !== undefined && donor !== cut, JSON.stringify(st.downloaded));
  // A released part's file back, the right size but another part's bytes (as if its removal never happened,
  // or worse): the state says released.
  await copyFile(join(data, `part-${donor}`), join(data, `part-${stale}`));
  // A part recorded staged whose file lost its tail.
  await truncate(join(data, `part-${cut}`), PART - 12_345);

  s.emu.clearFaults();
  s.emu.resetLog();
  const logAt0 = (await readLog(s.logs)).length;
  const r = await runCli(['run', '--config', s.cfg], { timeoutMs: 60_000 });
  assert.equal(r.code, 0, r.stderr);
  assert.doesNotMatch(r.stderr, /Warning|^\s+at /m);
  const key = copiesIn(s.emu, 'cos')[0]!;
  await assertStored(s.emu, 'cos', key, s.emu.expectedContent(INSTANCE, 'data', s.item.name));
  assert.deepEqual(openUploadsIn(s.emu, 'cos'), []);
  assert.equal(await manifestCrc(s, 'cos', key), (await s.emu.expectedContent(INSTANCE, 'data', s.item.name).crc64()).toString());
  assert.deepEqual(await filesUnder(s.staging), [], 'nothing left staged (the stale file included)');
  await assert.rejects(stat(join(data, `part-${stale}`)), { code: 'ENOENT' });

  // The stale bytes were never sent: COS already held the released part, and got no UploadPart for it.
  const sentParts = s.emu.cos.requests.filter((q) => q.op === 'UploadPart').map((q) => q.partNumber);
  assert.ok(!sentParts.includes(stale), `part ${stale} (released, its stale file back) sent again: ${sentParts.join(',')}`);
  // Nor fetched: nothing needed it. The truncated part was fetched again, whole, and only it of those staged.
  const ranges = s.emu.downloads.requests.filter((q) => q.method === 'GET' && q.range !== 'bytes=0-0').map((q) => q.range);
  const rangeOf = (n: number): string => `bytes=${(n - 1) * PART}-${(n - 1) * PART + partLen(n) - 1}`;
  assert.ok(!ranges.includes(rangeOf(stale)), `released part ${stale} fetched again: ${ranges.join(' ')}`);
  assert.ok(ranges.includes(rangeOf(cut)), `truncated part ${cut} fetched again: ${ranges.join(' ')}`);
  for (const n of staged.filter((x) => x !== cut)) assert.ok(!ranges.includes(rangeOf(n)), `staged part ${n} fetched again`);
  const log = (await readLog(s.logs)).slice(logAt0); // the log file holds the killed run's lines too
  const missing = log.filter((e) => e.msg === 'staged part missing; fetched again');
  assert.deepEqual(missing.map((e) => e['part']), [cut], JSON.stringify(missing));
  assert.equal(missing[0]!['bytes'], PART - 12_345);
  assert.equal(log.filter((e) => e.msg === 'part fetched again').length, 0, 'no released part fetched again');
});

test('two destinations: SIGKILL as COS answers Complete while OSS has not completed: the next run records the COS copy, completes OSS, and leaves nothing staged', async (t) => {
  const s = await setup(t, true);
  // Every part is released (both destinations hold them all) before any Complete is sent. OSS
  // refuses its Complete (503, retried) until the kill: COS completes first.
  s.emu.s3.faults.failOp({ op: 'CompleteMultipartUpload', status: 503, code: 'SlowDown', times: 1000 });
  const current: { run?: ReturnType<typeof startCliFor> } = {};
  let killed = false;
  const handle = s.emu.cos.handle.bind(s.emu.cos);
  s.emu.cos.handle = (req, res) => {
    if (!killed && req.method === 'POST' && /[?&]uploadId=/.test(req.url ?? '')) {
      const end = res.end.bind(res) as (...args: unknown[]) => typeof res;
      res.end = ((...args: unknown[]) => {
        if (res.statusCode === 200 && !killed) {
          killed = true;
          current.run?.child.kill('SIGKILL');
        }
        return end(...args);
      }) as typeof res.end;
    }
    handle(req, res);
  };
  const run = (current.run = startCliFor(t, ['run', '--config', s.cfg]));
  assert.equal((await run.done).signal, 'SIGKILL');
  assert.ok(killed, 'killed as COS answered Complete');
  s.emu.cos.handle = handle;
  assert.equal(copiesIn(s.emu, 'cos').length, 1, 'COS holds the object');
  assert.deepEqual(copiesIn(s.emu, 'oss'), [], 'OSS does not yet');
  assert.equal(openUploadsIn(s.emu, 'oss').length, 1, 'the OSS upload is open');
  await checkAfterKill(s, 'after the kill');
  const before = (await readStateFile(s))!.st;
  assert.equal(releasedCount(before), Object.keys(before.downloaded).length, 'every part released at the kill');
  const requestsAt0 = s.emu.downloads.requests.length;
  const cosAt0 = s.emu.cos.requests.length;

  s.emu.clearFaults();
  const r = await runCli(['run', '--config', s.cfg], { timeoutMs: 60_000 });
  assert.equal(r.code, 0, r.stderr);
  assert.doesNotMatch(r.stderr, /Warning|^\s+at /m);
  const expected = s.emu.expectedContent(INSTANCE, 'data', s.item.name);
  for (const { dest } of s.dests) {
    const key = copiesIn(s.emu, dest)[0]!;
    await assertStored(s.emu, dest, key, expected);
    assert.equal(await manifestCrc(s, dest, key), (await expected.crc64()).toString(), `${dest}: recorded`);
    assert.deepEqual(openUploadsIn(s.emu, dest), [], `${dest}: nothing open`);
  }
  assertNoRefetch(s, before, requestsAt0, 'the run after the kill');
  const cosWrites = s.emu.cos.requests.slice(cosAt0).filter((q) => ['InitiateMultipartUpload', 'UploadPart', 'CompleteMultipartUpload', 'PutObject'].includes(q.op) && !q.key.includes('.cdb2cos/'));
  assert.deepEqual(cosWrites.map((q) => q.op), [], 'COS held the object: nothing sent to it again');
  assert.deepEqual(await filesUnder(s.staging), [], 'nothing left in the staging dir');
});

test(`a whole object failing its check after Complete makes every released part fetched again; SIGKILL while they are: the next run fetches the rest, each with its first CRC-64, and the object lands right (seed ${(SEED + 2) >>> 0})`, async (t) => {
  const seed = (SEED + 2) >>> 0;
  const rnd = prng(seed);
  const s = await setup(t, false);
  // Stored with one byte flipped, the reply describing what was sent: the part passes its check, is
  // released, and only the whole object's CRC-64 after Complete shows it.
  s.emu.cos.faults.corruptPart({ partNumber: 2, times: 1, offset: 777 });
  const run = startCliFor(t, ['run', '--config', s.cfg]);
  const refetched = async (): Promise<number> => (await readLog(s.logs).catch(() => [])).filter((e) => e.msg === 'part fetched again').length;
  await waitFor('the whole object found wrong after Complete', async () => (await readLog(s.logs).catch(() => [])).some((e) => e.msg === 'crc64 mismatch after complete'), { timeoutMs: 30_000 });
  // Now every part goes again under a new upload, fetched again from the source: slowly, to be killed.
  s.emu.downloads.faults.throttle(4 * MiB);
  const want = rnd.int(1, 16);
  await waitFor(`${want} parts fetched again`, async () => (await refetched()) >= want, { timeoutMs: 30_000 });
  await sleep(rnd.int(0, 600));
  run.child.kill('SIGKILL');
  assert.equal((await run.done).signal, 'SIGKILL', `seed ${seed}: killed before the copy ended`);
  await checkAfterKill(s, `seed ${seed}, after ${want} parts fetched again`, { releasedConfirmed: false });
  const before = (await readStateFile(s))!.st;
  // The parts fetched again and staged since are recorded staged (not released) or released anew.
  const stillReleased = Object.keys(before.downloaded).filter((k) => before.downloaded[k]!.released === true && before.uploaded[k] === undefined);
  assert.ok(stillReleased.length > 0, `seed ${seed}: killed while released parts were still to fetch again`);

  s.emu.clearFaults();
  s.emu.resetLog();
  const logAt0 = (await readLog(s.logs)).length;
  const r = await runCli(['run', '--config', s.cfg], { timeoutMs: 60_000 });
  assert.equal(r.code, 0, `seed ${seed}: ${r.stderr}`);
  assert.doesNotMatch(r.stderr, /Warning|^\s+at /m);
  const key = copiesIn(s.emu, 'cos')[0]!;
  const expected = s.emu.expectedContent(INSTANCE, 'data', s.item.name);
  await assertStored(s.emu, 'cos', key, expected);
  assert.equal(await manifestCrc(s, 'cos', key), (await expected.crc64()).toString());
  assert.deepEqual(openUploadsIn(s.emu, 'cos'), [], 'no upload left open (the first, completed wrong, is the object now right)');
  assert.deepEqual(await filesUnder(s.staging), [], 'nothing left staged');
  // Fetched in this run: the released parts the new upload lacked, each once, and nothing it held.
  const log = (await readLog(s.logs)).slice(logAt0); // the log file holds the killed run's lines too
  const again = log.filter((e) => e.msg === 'part fetched again').map((e) => String(e['part'])).sort();
  assert.deepEqual(again, [...new Set(again)], 'each part fetched again once');
  for (const k of again) assert.equal(before.uploaded[k], undefined, `part ${k}, which the new upload held, fetched again`);
  assert.equal(log.filter((e) => e.msg === 'crc64 mismatch after complete').length, 0);
});
