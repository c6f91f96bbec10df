// `npm run bench`: the built CLI against the emulator, each a separate process, with the emulator's
// per-connection download rate limit (CDB's slow links), in one run:
//   1. a 1 GiB data backup copied by `cdb2cos run` (fresh instance, staging dir and keys);
//   2. the same 1 GiB copied the 2018 script's way: one GET of the whole backup into memory, then
//      one PUT of that buffer (the script read the backup into memory and called put_object);
//   3. an 8 GiB data backup copied by `cdb2cos run`;
//   4. a second run over 1,000 binlogs already copied by a first one: time and requests by kind.
// It prints a table with a PASS/FAIL per target and exits non-zero only when something crashed.
//
// Peak RSS is the CLI process's own, as /usr/bin/time -v reports it at exit (wait4's ru_maxrss, worker
// threads included); without /usr/bin/time, /proc/<pid>/status VmHWM sampled every 100 ms. The CLI's
// 'finished' event field maxRssBytes is shown next to it as a cross-check.
//
// Emulator costs that real CDB/COS do not have (it computes an item's MD5 and CRC64 on first use)
// are paid before the clock starts: the bench waits until the emulator reports both digests.
//
// Usage: npm run bench -- [--rate BYTES_PER_S] [--only 1g,base,8g,rerun] [--gib 1] [--big-gib 8]
//                         [--items 1000] [--keep] [--cpu-prof] [--workdir DIR]
// For analysis, BENCH_CLI_NODE_ARGS / BENCH_EMULATOR_NODE_ARGS add node options to either process
// (e.g. "--trace-gc", "--cpu-prof --cpu-prof-dir /tmp/p"); each CLI run's output is kept in its dir
// with --keep. Big files live in the work dir (.bench/run-*, gitignored), removed at the end.
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { readFileSync } from 'node:fs';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Agent, request } from 'undici';
import { createCdbApi } from '../src/cdb/client.js';
import { createCosApi } from '../src/cos/client.js';
import type { EmulatorInfo } from '@cdb2cos/emulator';

const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, '..', '..');
const CLI = join(repo, 'dist', 'src', 'cli.js');
const EMULATOR = join(repo, 'packages', 'emulator', 'dist', 'src', 'main.js');

const { values: flags } = parseArgs({
  options: {
    // 12.5 MB/s per connection (100 Mbit/s, 3–5× CDB's real 20–30 Mbit/s): 100 MB/s over 8 connections.
    // At 25 MB/s the two cores of the bench machine, shared by the CLI and the emulator that both hash
    // every byte (MD5 twice and CRC64 in the CLI, MD5 and CRC64 in the emulator's COS), run out first:
    // `--rate 25000000` shows that CPU-bound case.
    rate: { type: 'string', default: '12500000' },
    only: { type: 'string', default: '1g,base,8g,rerun' },
    gib: { type: 'string', default: '1' },
    'big-gib': { type: 'string', default: '8' },
    items: { type: 'string', default: '1000' },
    keep: { type: 'boolean', default: false },
    'cpu-prof': { type: 'boolean', default: false },
    workdir: { type: 'string' },
  },
  strict: true,
});
const RATE = Number(flags.rate);
const ONLY = new Set(flags.only.split(',').map((s) => s.trim()));
const SMALL = Math.round(Number(flags.gib) * GiB);
const BIG = Math.round(Number(flags['big-gib']) * GiB);
const ITEMS = Number(flags.items);
/** The CLI's defaults, written into every config so the bound below matches what runs. */
const CONNECTIONS = 8;
const RSS_TARGET = 150 * MiB;
const SPEEDUP_TARGET = 6;
const RERUN_TARGET_MS = 5000;
const BOUND_FACTOR = 1.15;
const CORES = availableParallelism();

// Loopback only: no proxy may see the emulator's traffic (the COS SDK honours these variables).
const childEnv: NodeJS.ProcessEnv = { ...process.env, NO_PROXY: '127.0.0.1,localhost', no_proxy: '127.0.0.1,localhost' };
for (const k of ['http_proxy', 'HTTP_PROXY', 'https_proxy', 'HTTPS_PROXY', 'all_proxy', 'ALL_PROXY']) {
  delete childEnv[k];
  delete process.env[k];
}

interface Row {
  test: string;
  figure: string;
  target: string;
  verdict: 'PASS' | 'FAIL' | 'ERROR' | '';
}
const rows: Row[] = [];
const row = (test: string, figure: string, target = '', ok?: boolean): void => {
  rows.push({ test, figure, target, verdict: ok === undefined ? '' : ok ? 'PASS' : 'FAIL' });
};
let crashed = false;

const mb = (bytes: number): string => (bytes / 1e6).toFixed(0);
const mib = (bytes: number): string => (bytes / MiB).toFixed(1);
const sec = (ms: number): string => (ms / 1000).toFixed(2);
const note = (line: string): void => void process.stderr.write(`bench: ${line}\n`);

// --- the emulator, as its own process --------------------------------------------------------------

interface EmulatorProcess {
  info: EmulatorInfo;
  child: ChildProcess;
  stop(): Promise<void>;
}

async function startEmulatorProcess(dataDir: string, rate: number): Promise<EmulatorProcess> {
  // BENCH_EMULATOR_NODE_ARGS: node options for the emulator only, for analysis (--cpu-prof, …).
  const nodeArgs = (process.env['BENCH_EMULATOR_NODE_ARGS'] ?? '').split(' ').filter((a) => a !== '');
  const child = spawn(process.execPath, [...nodeArgs, EMULATOR, '--port', '0', '--data-dir', dataDir, '--rate', String(rate)], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: childEnv,
  });
  const exited = new Promise<void>((res) => child.once('exit', () => res()));
  const lines = createInterface({ input: child.stdout! });
  const first = await new Promise<string>((res, rej) => {
    lines.once('line', res);
    child.once('exit', (code) => rej(new Error(`the emulator exited (${code}) before printing its endpoints`)));
  });
  lines.on('line', () => undefined); // keep the pipe drained
  const info = JSON.parse(first) as EmulatorInfo;
  return {
    info,
    child,
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

const controlAgent = new Agent({ connections: 2 });

async function control<T = Record<string, unknown>>(emu: EmulatorProcess, method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
  const res = await request(`${emu.info.cdbEndpoint}/_emulator/${path}`, {
    method,
    dispatcher: controlAgent,
    headers: { 'content-type': 'application/json' },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.body.text();
  if (res.statusCode !== 200) throw new Error(`control ${method} ${path}: HTTP ${res.statusCode} ${text}`);
  return JSON.parse(text) as T;
}

interface StateItem {
  type: string;
  name: string;
  size: number;
  md5?: string;
  crc64?: string;
}
interface EmulatorState {
  instances: Array<{ id: string; items: StateItem[] }>;
  cos: { objects: Array<{ key: string; size: number; crc64: string }>; openUploads: unknown[] };
  counters: { apiRequests: number; downloadRequests: number; cosRequests: number };
  log: {
    api: Array<{ action: string; errorCode?: string }>;
    downloads: Array<{ method: string; status: number }>;
    cos: Array<{ op: string; status: number }>;
  };
}

const state = (emu: EmulatorProcess): Promise<EmulatorState> => control<EmulatorState>(emu, 'GET', 'state');

/** Waits until the emulator has the digests it serves for an item (CDB and COS keep them precomputed). */
async function warmItem(emu: EmulatorProcess, instance: string, type: 'data' | 'binlog', name: string): Promise<StateItem> {
  // The emulator computes an item's CRC64 when it is first served: a HEAD of its URL starts it.
  const cdb = createCdbApi({ credentials: emu.info, region: emu.info.cdbRegion, endpoint: emu.info.cdbEndpoint, timeoutMs: 60_000 });
  const listed = await cdb.call(type === 'data' ? 'DescribeBackups' : 'DescribeBinlogs', { InstanceId: instance, Limit: 100 });
  const url = (listed['Items'] as Array<Record<string, string>>).find((i) => i['Name'] === name)?.['InternetUrl'];
  if (url === undefined) throw new Error(`${instance} ${name} is not listed`);
  await (await request(url, { method: 'HEAD', dispatcher: controlAgent })).body.dump();
  const t0 = performance.now();
  for (;;) {
    const st = await state(emu);
    const it = st.instances.find((i) => i.id === instance)?.items.find((i) => i.name === name);
    if (it?.crc64 !== undefined && (type !== 'data' || it.md5 !== undefined)) return it;
    if (performance.now() - t0 > 180_000) throw new Error(`the emulator's digests of ${name} are not ready after 3 min`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

// --- the CLI, as its own process -------------------------------------------------------------------

async function writeConfig(dir: string, emu: EmulatorProcess, instance: string, types: string): Promise<string> {
  const i = emu.info;
  const text = `; written by bench/bench.ts
[credentials]
secret_id = ${i.secretId}
secret_key = ${i.secretKey}

[cdb]
region = ${i.cdbRegion}
instances = ${instance}
types = ${types}
endpoint = ${i.cdbEndpoint}

[cos]
region = ${i.cosRegion}
bucket = ${i.bucket}
endpoint = ${i.cosEndpoint}

[transfer]
staging_dir = ${join(dir, 'staging')}
connections = ${CONNECTIONS}

[log]
dir = ${join(dir, 'logs')}
`;
  await mkdir(dir, { recursive: true });
  const path = join(dir, 'cdb2cos.ini');
  await writeFile(path, text, { mode: 0o600 });
  return path;
}

interface CliRun {
  exitCode: number | null;
  ms: number;
  /** Peak RSS of the CLI's process: /usr/bin/time -v, else VmHWM sampled every 100 ms. */
  peakRssBytes: number;
  rssSource: string;
  /** CPU seconds (user + system) of the CLI (from /usr/bin/time) and of the emulator during the run. */
  cliCpuS: number | undefined;
  /** Of which in the kernel (socket and file copies, page cache). */
  cliSysS: number | undefined;
  emulatorCpuS: number | undefined;
  /** CPU seconds of the whole machine during the run: what neither the CLI nor the emulator used is other load. */
  machineCpuS: number | undefined;
  finished: Record<string, number> | undefined;
  events: Array<Record<string, unknown>>;
  stdout: string;
  stderr: string;
}

const TIME = '/usr/bin/time';
const haveTime = ((): boolean => {
  try {
    readFileSync(TIME);
    return true;
  } catch {
    return false;
  }
})();

/** utime + stime of a process in seconds, from /proc/<pid>/stat. */
function cpuSeconds(pid: number | undefined): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / 100;
  } catch {
    return undefined;
  }
}

/** CPU seconds the whole machine spent busy (all cores), from /proc/stat. */
function machineBusySeconds(): number | undefined {
  try {
    const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal: busy = all but idle and iowait.
    return (f[0]! + f[1]! + f[2]! + f[5]! + f[6]! + f[7]!) / 100;
  } catch {
    return undefined;
  }
}

async function runCli(emu: EmulatorProcess, dir: string, config: string, tag: string): Promise<CliRun> {
  const nodeArgs = [CLI, 'run', '--config', config];
  // BENCH_CLI_NODE_ARGS: node options for the CLI only, for analysis (--trace-gc, --max-semi-space-size=2, …).
  nodeArgs.unshift(...(process.env['BENCH_CLI_NODE_ARGS'] ?? '').split(' ').filter((a) => a !== ''));
  if (flags['cpu-prof']) nodeArgs.unshift('--cpu-prof', '--cpu-prof-dir', join(repo, '.bench', 'profiles'), '--cpu-prof-name', `${tag.replace(/\W/g, '')}-${Date.now()}.cpuprofile`);
  // Linux keeps ru_maxrss across execve: a CLI spawned straight from this process would inherit this
  // process's high-water mark (a 1 GiB baseline buffer). /usr/bin/time is small and reports the
  // child's own peak exactly, at exit.
  const [cmd, args] = haveTime ? [TIME, ['-v', process.execPath, ...nodeArgs]] : [process.execPath, nodeArgs];
  const emu0 = cpuSeconds(emu.child.pid);
  const busy0 = machineBusySeconds();
  const t0 = performance.now();
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env: childEnv });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  let hwm = 0;
  const sampler = setInterval(() => {
    try {
      const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'));
      if (m) hwm = Math.max(hwm, Number(m[1]) * 1024);
    } catch {
      // gone already
    }
  }, 100);
  const exitCode = await new Promise<number | null>((res) => child.once('exit', (code) => res(code)));
  const ms = performance.now() - t0;
  const emu1 = cpuSeconds(emu.child.pid);
  const busy1 = machineBusySeconds();
  const machineCpuS = busy0 !== undefined && busy1 !== undefined ? busy1 - busy0 : undefined;
  clearInterval(sampler);
  const user = /User time \(seconds\): ([\d.]+)/.exec(stderr);
  const sys = /System time \(seconds\): ([\d.]+)/.exec(stderr);
  const cliCpuS = user && sys ? Number(user[1]) + Number(sys[1]) : undefined;
  const cliSysS = sys ? Number(sys[1]) : undefined;
  const emulatorCpuS = emu0 !== undefined && emu1 !== undefined ? emu1 - emu0 : undefined;
  const timed = /Maximum resident set size \(kbytes\): (\d+)/.exec(stderr);
  const peakRssBytes = timed ? Number(timed[1]) * 1024 : hwm;
  const rssSource = timed ? '/usr/bin/time -v' : 'VmHWM sampled';
  await writeFile(join(dir, `${tag.replace(/\W/g, '')}.out`), `${stdout}\n--- stderr\n${stderr}`);
  const events: Array<Record<string, unknown>> = [];
  const logDir = join(dir, 'logs');
  for (const f of await readdir(logDir).catch(() => [] as string[])) {
    for (const line of (await readFile(join(logDir, f), 'utf8')).split('\n')) {
      if (line.trim() !== '') events.push(JSON.parse(line) as Record<string, unknown>);
    }
  }
  // Each config has a log dir of its own; a second run of it appends, so take the last 'finished'.
  const finished = events.filter((e) => e['msg'] === 'finished').at(-1) as Record<string, number> | undefined;
  return { exitCode, ms, peakRssBytes, rssSource, cliCpuS, cliSysS, emulatorCpuS, machineCpuS, finished, events, stdout, stderr };
}

function checkRun(what: string, r: CliRun): void {
  if (r.exitCode !== 0 || r.finished === undefined) {
    throw new Error(`${what}: cdb2cos exited with ${r.exitCode}${r.finished ? '' : ' and no finished event'}\n${r.stderr}${r.stdout}`);
  }
}

// --- 1 and 3: one large item copied by the CLI -----------------------------------------------------

async function benchCopy(emu: EmulatorProcess, work: string, label: string, size: number): Promise<number | undefined> {
  const instance = `cdb-bench${label.replace(/\W/g, '').toLowerCase()}`;
  const name = `${instance}_bench.xb`;
  await control(emu, 'POST', 'items', { instance, items: [{ type: 'data', name, size, md5: true, minutesAgo: 60 }] });
  const t = performance.now();
  const item = await warmItem(emu, instance, 'data', name);
  note(`${label}: emulator digests ready in ${sec(performance.now() - t)} s (not timed)`);
  await control(emu, 'POST', 'reset-log');
  const dir = join(work, `cli-${label.replace(/\W/g, '')}`);
  const config = await writeConfig(dir, emu, instance, 'data');
  note(`${label}: cdb2cos run …`);
  const r = await runCli(emu, dir, config, label);
  checkRun(`${label} copy`, r);
  const st = await state(emu);
  const landed = st.cos.objects.filter((o) => o.key.includes(`${instance}/`) && o.key.endsWith(name));
  const intact = landed.length === 1 && landed[0]!.size === size && landed[0]!.crc64 === item.crc64;
  const f = r.finished!;
  const bound = (BOUND_FACTOR * size) / (CONNECTIONS * RATE);
  const rss = r.peakRssBytes;
  const test = `${label} copy (cdb2cos run)`;
  row(test, `wall ${sec(r.ms)} s (run ${sec(f['ms'] ?? 0)} s), ${mb((size / r.ms) * 1000)} MB/s`, `≤ ${bound.toFixed(2)} s = 1.15×size/(${CONNECTIONS}×${mb(RATE)} MB/s)`, r.ms / 1000 <= bound);
  row('', `peak RSS ${mib(rss)} MiB (${r.rssSource}; 'finished' maxRssBytes ${mib(f['maxRssBytes'] ?? 0)} MiB)`, `≤ ${mib(RSS_TARGET)} MiB`, rss <= RSS_TARGET);
  const cpu = (v: number | undefined): string => (v === undefined ? '?' : v.toFixed(1));
  const others = r.machineCpuS !== undefined && r.cliCpuS !== undefined && r.emulatorCpuS !== undefined ? r.machineCpuS - r.cliCpuS - r.emulatorCpuS : undefined;
  row('', `CPU s: CLI ${cpu(r.cliCpuS)} (sys ${cpu(r.cliSysS)}) + emulator ${cpu(r.emulatorCpuS)} + other load ${cpu(others)} of ${((CORES * r.ms) / 1000).toFixed(1)} (${CORES} cores × wall)`, 'diagnostic');
  row('', `landed ${landed.length} object, CRC64 ${intact ? 'equals the source' : 'WRONG'}; down ${mib(f['bytesDownloaded'] ?? 0)} MiB, up ${mib(f['bytesUploaded'] ?? 0)} MiB`, 'byte-exact copy', intact);
  return r.ms;
}

// --- 2: the 2018 script's way ----------------------------------------------------------------------

async function benchBaseline(emu: EmulatorProcess, size: number): Promise<number> {
  const instance = 'cdb-benchbaseline';
  const name = `${instance}_bench.xb`;
  await control(emu, 'POST', 'items', { instance, items: [{ type: 'data', name, size, md5: true, minutesAgo: 60 }] });
  const item = await warmItem(emu, instance, 'data', name);
  const creds = { secretId: emu.info.secretId, secretKey: emu.info.secretKey };
  const cdb = createCdbApi({ credentials: creds, region: emu.info.cdbRegion, endpoint: emu.info.cdbEndpoint, timeoutMs: 600_000 });
  const cos = createCosApi({ credentials: creds, region: emu.info.cosRegion, bucket: emu.info.bucket, endpoint: emu.info.cosEndpoint, timeoutMs: 600_000 });
  const agent = new Agent({ connections: 1, bodyTimeout: 0, headersTimeout: 0 });
  note('baseline: one GET into memory, then one PUT …');
  const t0 = performance.now();
  // The script: DescribeBackups, urllib read() of the whole URL, cos put_object(Body=data).
  const listed = await cdb.call('DescribeBackups', { InstanceId: instance, Limit: 100 });
  const url = (listed['Items'] as Array<Record<string, string>>).find((i) => i['Name'] === name)?.['InternetUrl'];
  if (url === undefined) throw new Error('baseline item not listed');
  const res = await request(url, { dispatcher: agent });
  if (res.statusCode !== 200) throw new Error(`baseline GET: HTTP ${res.statusCode}`);
  const data = Buffer.allocUnsafe(size);
  let n = 0;
  for await (const chunk of res.body as AsyncIterable<Buffer>) n += chunk.copy(data, n);
  if (n !== size) throw new Error(`baseline GET: ${n} of ${size} bytes`);
  const t1 = performance.now();
  const put = await cos.putObject(`baseline/${name}`, data, size, {});
  const t2 = performance.now();
  await agent.close();
  const intact = put.crc64 === item.crc64;
  row(`${Number(flags.gib)} GiB the 2018 way (baseline)`, `${sec(t2 - t0)} s = GET ${sec(t1 - t0)} s + PUT ${sec(t2 - t1)} s, whole file in memory`, 'byte-exact copy', intact);
  return t2 - t0;
}

// --- 4: a second run over many small items already copied ------------------------------------------

async function benchRerun(emu: EmulatorProcess, work: string, count: number): Promise<void> {
  const instance = 'cdb-benchrerun';
  const items = Array.from({ length: count }, (_, i) => ({ type: 'binlog', size: 4 * KiB + (i % 1024), minutesAgo: 10 * (count - i) }));
  await control(emu, 'POST', 'items', { instance, items });
  const dir = join(work, 'cli-rerun');
  const config = await writeConfig(dir, emu, instance, 'binlog');
  note(`rerun: first run copies ${count} binlogs …`);
  const first = await runCli(emu, dir, config, 'rerun-first');
  checkRun('rerun (first run)', first);
  const copied = first.events.filter((e) => e['msg'] === 'verified').length;
  await control(emu, 'POST', 'reset-log');
  note('rerun: second run …');
  const r = await runCli(emu, dir, config, 'rerun-second');
  checkRun('rerun (second run)', r);
  const st = await state(emu);
  const c = st.counters;
  const count1 = <T>(list: T[], key: (x: T) => string): Map<string, number> => {
    const m = new Map<string, number>();
    for (const x of list) m.set(key(x), (m.get(key(x)) ?? 0) + 1);
    return m;
  };
  // The state keeps the last 200 requests of each server: exact whenever the run made fewer.
  const complete = c.apiRequests <= 200 && c.cosRequests <= 200 && c.downloadRequests <= 200;
  const api = count1(st.log.api, (x) => x.action);
  const cosOps = count1(st.log.cos, (x) => x.op);
  const fmt = (m: Map<string, number>): string => [...m].map(([k, v]) => `${k} ${v}`).join(', ') || 'none';
  const recopied = r.events.filter((e) => e['msg'] === 'verified').length - copied;
  const f = r.finished!;
  const listPages = api.get('DescribeBinlogs') ?? 0;
  const bucketPages = cosOps.get('GetBucket') ?? 0;
  const maxListPages = Math.ceil(count / 100) + 1;
  const maxBucketPages = Math.ceil((count + 1) / 1000) + 1;
  const heads = cosOps.get('HeadObject') ?? 0;
  const gets = cosOps.get('GetObject') ?? 0;
  row(`rerun over ${count} copied binlogs`, `first run ${sec(first.ms)} s (${copied} copied); second run wall ${sec(r.ms)} s (run ${sec(f['ms'] ?? 0)} s), ${recopied} copied again`, `≤ ${sec(RERUN_TARGET_MS)} s, nothing copied`, r.ms <= RERUN_TARGET_MS && recopied === 0);
  row('', `CDB API: ${c.apiRequests} (${fmt(api)})`, `DescribeBinlogs ≤ ${maxListPages} pages`, complete && listPages <= maxListPages);
  row('', `COS: ${c.cosRequests} (${fmt(cosOps)})`, `GetBucket ≤ ${maxBucketPages} pages, no HEAD, GET = manifest only`, complete && bucketPages <= maxBucketPages && heads === 0 && gets <= 1);
  row('', `downloads: ${c.downloadRequests}; CLI listRequests ${f['listRequests'] ?? '?'}; peak RSS ${mib(r.peakRssBytes)} MiB`, 'no download', c.downloadRequests === 0);
}

// --- the run ---------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const work = resolve(flags.workdir ?? join(repo, '.bench', `run-${new Date().toISOString().replace(/[:.]/g, '-')}`));
  await mkdir(work, { recursive: true });
  note(`work dir ${work}; download rate ${RATE} B/s per connection; ${CORES} cores shared by the CLI and the emulator (load average ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')})`);
  const t0 = performance.now();
  let emu: EmulatorProcess | undefined;
  // Ctrl-C: the emulator (same process group) stops by itself; the GiBs in the work dir must go too.
  process.once('SIGINT', () => {
    void (async () => {
      await emu?.stop().catch(() => undefined);
      if (!flags.keep) await rm(work, { recursive: true, force: true });
      process.exit(130);
    })();
  });
  try {
    emu = await startEmulatorProcess(join(work, 'emulator'), RATE);
    const stage = async (key: string, title: string, fn: () => Promise<unknown>): Promise<void> => {
      if (!ONLY.has(key)) return;
      try {
        await fn();
      } catch (err) {
        crashed = true;
        rows.push({ test: title, figure: (err instanceof Error ? err.message : String(err)).split('\n')[0]!.slice(0, 120), target: '', verdict: 'ERROR' });
        note(`${title} crashed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
      }
    };
    let small: number | undefined;
    let base: number | undefined;
    const smallLabel = `${Number(flags.gib)} GiB`;
    await stage('1g', `${smallLabel} copy`, async () => (small = await benchCopy(emu!, work, smallLabel, SMALL)));
    await stage('base', 'baseline', async () => (base = await benchBaseline(emu!, SMALL)));
    if (small !== undefined && base !== undefined) {
      const x = base / small;
      row('speed-up over the 2018 way', `${x.toFixed(1)}× (${sec(base)} s → ${sec(small)} s)`, `≥ ${SPEEDUP_TARGET}×`, x >= SPEEDUP_TARGET);
    }
    await stage('8g', `${Number(flags['big-gib'])} GiB copy`, () => benchCopy(emu!, work, `${Number(flags['big-gib'])} GiB`, BIG));
    await stage('rerun', 'rerun', () => benchRerun(emu!, work, ITEMS));
  } catch (err) {
    crashed = true;
    note(`crashed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  } finally {
    await emu?.stop().catch(() => undefined);
    await controlAgent.close().catch(() => undefined);
    if (!flags.keep) await rm(work, { recursive: true, force: true });
  }
  printTable(performance.now() - t0);
  if (crashed) process.exitCode = 1;
}

function printTable(totalMs: number): void {
  const w = [0, 0, 0];
  for (const r of rows) {
    w[0] = Math.max(w[0]!, r.test.length);
    w[1] = Math.max(w[1]!, r.figure.length);
    w[2] = Math.max(w[2]!, r.target.length);
  }
  const line = (a: string, b: string, c: string, d: string): string => `${a.padEnd(w[0]!)} | ${b.padEnd(w[1]!)} | ${c.padEnd(w[2]!)} | ${d}`;
  const out = [
    '',
    `cdb2cos bench: rate ${mb(RATE)} MB/s per download connection, ${CONNECTIONS} connections, emulator in its own process; peak RSS of the CLI process by ${haveTime ? '/usr/bin/time -v' : 'VmHWM sampled'}`,
    line('test', 'figure', 'target', 'result'),
    line('-'.repeat(w[0]!), '-'.repeat(w[1]!), '-'.repeat(w[2]!), '------'),
    ...rows.map((r) => line(r.test, r.figure, r.target, r.verdict)),
    `total bench time ${sec(totalMs)} s`,
    '',
  ];
  process.stdout.write(out.join('\n'));
}

await main();
