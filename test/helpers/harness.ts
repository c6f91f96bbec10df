// Shared by the integration, end-to-end and fault tests: temp dirs, the built CLI as a subprocess,
// the dated log file, and checking that what landed in the emulator's bucket is byte for byte right.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';
import type { Emulator } from '@cdb2cos/emulator';
import type { EmulatorItemType } from '@cdb2cos/emulator';

export const ROOT = resolve(fileURLToPath(new URL('../../..', import.meta.url)));
export const CLI = join(ROOT, 'dist', 'src', 'cli.js');
/** How users start the CLI (README, crontab, systemd, npm's bin): node with its V8 flags, via exec. */
export const BIN = join(ROOT, 'bin', 'cdb2cos');

/** A fresh temp dir, removed when the test ends. */
export async function tempDir(t: { after: (fn: () => Promise<void>) => void }, name = 'cdb2cos-'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), name));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** The environment a CLI subprocess gets: no proxies, no cloud credentials leaking in from the host. */
export function cliEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  // CDB2COS_TEST=1: the credentials chain never asks the real instance metadata address.
  const env: NodeJS.ProcessEnv = { ...process.env, CDB2COS_TEST: '1', ...extra };
  for (const k of [
    'http_proxy', 'https_proxy', 'HTTP_PROXY', 'HTTPS_PROXY',
    'TENCENTCLOUD_SECRET_ID', 'TENCENTCLOUD_SECRET_KEY', 'TENCENTCLOUD_SESSION_TOKEN',
    'TENCENTCLOUD_SECRETID', 'TENCENTCLOUD_SECRETKEY', 'TENCENTCLOUD_SESSIONTOKEN', 'TENCENTCLOUD_TOKEN',
    'TKE_REGION', 'TKE_PROVIDER_ID', 'TKE_WEB_IDENTITY_TOKEN_FILE', 'TKE_ROLE_ARN',
    'CDB2COS_CDB_ENDPOINT', 'CDB2COS_COS_ENDPOINT', 'CDB2COS_METADATA_ENDPOINT', 'CDB2COS_STS_ENDPOINT',
    'CDB2COS_SHARD', 'CDB2COS_SHARDS', 'JOB_COMPLETION_INDEX',
  ]) {
    if (!(k in extra)) delete env[k];
  }
  return env;
}

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/** Starts the built CLI through bin/cdb2cos; the caller may kill it (the signal reaches node itself). */
export function startCli(args: string[], opts: { env?: Record<string, string>; cwd?: string } = {}): { child: ChildProcess; done: Promise<CliResult> } {
  const t0 = Date.now();
  // Through bin/cdb2cos, as users start it; CDB2COS_NODE: the node running the tests.
  const child = spawn(BIN, args, { env: cliEnv({ CDB2COS_NODE: process.execPath, ...opts.env }), cwd: opts.cwd ?? ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const done = new Promise<CliResult>((res) => child.on('close', (code, signal) => res({ code, signal, stdout, stderr, ms: Date.now() - t0 })));
  return { child, done };
}

/** Runs the built CLI to the end (killed after timeoutMs). */
export async function runCli(args: string[], opts: { env?: Record<string, string>; cwd?: string; timeoutMs?: number } = {}): Promise<CliResult> {
  const { child, done } = startCli(args, opts);
  const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 240_000);
  try {
    return await done;
  } finally {
    clearTimeout(timer);
  }
}

export type LogEvent = Record<string, unknown> & { msg: string; level: string };

/** Every JSON line of every dated log file in dir. */
export async function readLog(dir: string): Promise<LogEvent[]> {
  let names: string[] = [];
  try {
    names = (await readdir(dir)).filter((n) => /^\d{4}-\d{2}-\d{2}-/.test(n)).sort();
  } catch {
    return [];
  }
  const events: LogEvent[] = [];
  for (const n of names) {
    for (const line of (await readFile(join(dir, n), 'utf8')).split('\n')) {
      if (line.trim() !== '') events.push(JSON.parse(line) as LogEvent);
    }
  }
  return events;
}

/** Asserts the object at key holds exactly the item's bytes (CRC64 of the stored object vs the source). */
export async function assertLanded(emu: Emulator, instance: string, type: EmulatorItemType, name: string, key: string): Promise<void> {
  const obj = emu.cos.objects(emu.info.bucket).find((o) => o.key === key);
  assert.ok(obj, `object ${key} landed`);
  const expected = emu.expectedContent(instance, type, name);
  assert.equal(obj.size, expected.size, `size of ${key}`);
  assert.equal(obj.crc64, (await expected.crc64()).toString(), `CRC64 of ${key}`);
}

/** Keys of the objects in the emulator's bucket, without the tool's own manifests. */
export function backupKeys(emu: Emulator): string[] {
  return emu.cos
    .objects(emu.info.bucket)
    .map((o) => o.key)
    .filter((k) => !k.includes('.cdb2cos/'))
    .sort();
}

// --- End-to-end helpers for `cdb2cos run` (test/e2e/run-*.test.ts) ---------------------------------

/** Raw text of every dated log file in dir ('' when there is none). */
export async function readLogText(dir: string): Promise<string> {
  let names: string[] = [];
  try {
    names = (await readdir(dir)).filter((n) => /^\d{4}-\d{2}-\d{2}-/.test(n)).sort();
  } catch {
    return '';
  }
  let text = '';
  for (const n of names) text += await readFile(join(dir, n), 'utf8');
  return text;
}

/** Paths of the files (not folders) under dir, relative to it; [] when dir does not exist. */
export async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (rel: string): Promise<void> => {
    let entries;
    try {
      entries = await readdir(join(dir, rel), { withFileTypes: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw err;
    }
    for (const e of entries) {
      const p = rel === '' ? e.name : join(rel, e.name);
      if (e.isDirectory()) await walk(p);
      else out.push(p);
    }
  };
  await walk('');
  return out.sort();
}

/** Every download URL the emulator signs from now on (what the CDB listings hand out), to check that none leaks. */
export function recordSignedUrls(emu: Emulator): string[] {
  const urls: string[] = [];
  const issue = emu.downloads.issueUrls.bind(emu.downloads);
  emu.downloads.issueUrls = (item) => {
    const issued = issue(item);
    urls.push(issued.internet, issued.intranet);
    return issued;
  };
  return urls;
}

/**
 * Asserts that no secret and no signed query string of a download URL appears in any of the texts
 * (stdout, stderr, the log file): neither whole, nor its signature alone, nor any "?sign=" at all.
 */
export function assertNoLeaks(texts: Record<string, string>, secrets: readonly string[], signedUrls: readonly string[]): void {
  for (const [what, text] of Object.entries(texts)) {
    for (const s of secrets) assert.ok(s.length >= 8 && !text.includes(s), `${what} must not hold a secret key`);
    for (const url of signedUrls) {
      const query = url.slice(url.indexOf('?') + 1);
      const sign = new URLSearchParams(query).get('sign');
      assert.ok(!text.includes(query), `${what} must not hold a download URL's query string`);
      if (sign) assert.ok(!text.includes(sign), `${what} must not hold a download URL's signature`);
    }
    assert.doesNotMatch(text, /[?&]sign=[0-9a-f]/, `${what} must not hold a signed download URL`);
  }
}

/** The events of one kind (msg) in a log. */
export function eventsOf(events: readonly LogEvent[], msg: string): LogEvent[] {
  return events.filter((e) => e.msg === msg);
}

// --- Fault-injection helpers (test/faults/*.test.ts) ---------------------------------------------------
import { startEmulator, type EmulatorOptions } from '@cdb2cos/emulator';

type AfterHook = { after: (fn: () => Promise<void> | void) => void };

/** CLI children still running, per test: killed before the test's emulator closes. */
const liveChildren = new WeakMap<AfterHook, Set<ChildProcess>>();

function killChildren(t: AfterHook): void {
  for (const child of liveChildren.get(t) ?? []) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
}

/** An emulator for one test, closed (its temp data dir removed) when the test ends. */
export async function startTestEmulator(t: AfterHook, opts: EmulatorOptions = {}): Promise<Emulator> {
  const emu = await startEmulator(opts);
  // A CLI left running (the test failed midway) would hold requests open and keep close() waiting.
  t.after(async () => {
    killChildren(t);
    await emu.close();
  });
  return emu;
}

/** startCli, and SIGKILL for the child if the test ends (or fails) while it still runs. */
export function startCliFor(t: AfterHook, args: string[], opts: { env?: Record<string, string> } = {}): ReturnType<typeof startCli> {
  const run = startCli(args, opts);
  const set = liveChildren.get(t) ?? new Set<ChildProcess>();
  liveChildren.set(t, set.add(run.child));
  t.after(() => killChildren(t));
  return run;
}

/** Polls `probe` until it returns something truthy; fails naming `what` after timeoutMs. */
export async function waitFor<T>(what: string, probe: () => T | Promise<T>, opts: { timeoutMs?: number; intervalMs?: number } = {}): Promise<NonNullable<T>> {
  const deadline = Date.now() + (opts.timeoutMs ?? 60_000);
  for (;;) {
    const v = await probe();
    if (v) return v as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, opts.intervalMs ?? 20));
  }
}

/** Body bytes COS received in UploadPart requests (whatever their outcome), for one key or all. */
export function uploadPartBytes(emu: Emulator, key?: string): number {
  return emu.cos.requests.filter((r) => r.op === 'UploadPart' && (key === undefined || r.key === key)).reduce((n, r) => n + r.bytesIn, 0);
}

/** Non-empty lines of a text. */
export function lines(text: string): string[] {
  return text.split('\n').filter((l) => l.trim() !== '');
}

/** The object key an item landed at (the one backup key ending in /<name>). */
export function landedKey(emu: Emulator, name: string): string {
  const keys = backupKeys(emu).filter((k) => k.endsWith(`/${name}`));
  assert.equal(keys.length, 1, `one object for ${name}: ${keys.join(', ')}`);
  return keys[0]!;
}
