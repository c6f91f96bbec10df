// Shared by the integration, end-to-end and fault tests: temp dirs, the built CLI as a subprocess,
// the dated log file, and checking that what landed in the emulator's bucket is byte for byte right.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';
import type { Emulator } from '../../src/emulator/index.js';
import type { EmulatorItemType } from '../../src/emulator/index.js';

export const ROOT = resolve(fileURLToPath(new URL('../../..', import.meta.url)));
export const CLI = join(ROOT, 'dist', 'src', 'cli.js');

/** A fresh temp dir, removed when the test ends. */
export async function tempDir(t: { after: (fn: () => Promise<void>) => void }, name = 'cdb2cos-'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), name));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** The environment a CLI subprocess gets: no proxies, no cloud credentials leaking in from the host. */
export function cliEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, ...extra };
  for (const k of ['http_proxy', 'https_proxy', 'HTTP_PROXY', 'HTTPS_PROXY', 'TENCENTCLOUD_SECRET_ID', 'TENCENTCLOUD_SECRET_KEY', 'TENCENTCLOUD_SESSION_TOKEN', 'CDB2COS_CDB_ENDPOINT', 'CDB2COS_COS_ENDPOINT']) {
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

/** Starts the built CLI; the caller may kill it. */
export function startCli(args: string[], opts: { env?: Record<string, string>; cwd?: string } = {}): { child: ChildProcess; done: Promise<CliResult> } {
  const t0 = Date.now();
  const child = spawn(process.execPath, [CLI, ...args], { env: cliEnv(opts.env), cwd: opts.cwd ?? ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
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
