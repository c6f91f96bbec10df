// `npm run bench`: the built CLI against the emulator, each a separate process, with the emulator's
// per-connection download rate limit (CDB's slow links), in one run:
//   1. `1g`: a 1 GiB data backup whose source sends its CRC-64, copied by `cdb2cos run` (fresh
//      instance, staging dir and keys), --runs times;
//   2. `md5`: the same size from a source that sends no CRC-64, so CDB's MD5 is checked, --runs times;
//   3. `base`: the same 1 GiB copied the 2018 script's way: one GET of the whole backup into memory,
//      then one PUT of that buffer (the script read the backup into memory and called put_object);
//   4. `8g`: an 8 GiB data backup copied by `cdb2cos run`, --runs times (--big-gib sets the size);
//   5. `rerun`: a second run over 1,000 binlogs already copied by a first one: time and requests by kind.
// It prints a table with a PASS/FAIL per target and exits non-zero only when something crashed.
// Each copy case reports the CLI process's CPU seconds (user + system, /usr/bin/time) per GiB, its
// peak RSS and its wall time: the median and the range over the runs. The CLI is started the way the
// README tells users to, through bin/cdb2cos (its V8 flags included); `--direct` starts
// `node dist/src/cli.js` instead, without them, for comparison. CPU seconds stay meaningful on a
// shared machine; wall time does not (the links are emulated on the same cores).
//
// Peak RSS is the CLI process's own, as /usr/bin/time -v reports it at exit (wait4's ru_maxrss, worker
// threads included); without /usr/bin/time, /proc/<pid>/status VmHWM sampled every 100 ms. The CLI's
// 'finished' event field maxRssBytes is shown next to it as a cross-check.
//
// Emulator costs that real CDB/COS do not have (it computes an item's MD5 and CRC64 on first use)
// are paid before the clock starts: the bench waits until the emulator reports both digests.
//
// Usage: npm run bench -- [--rate BYTES_PER_S] [--only 1g,md5,base,8g,rerun] [--gib 1] [--big-gib 8]
//                         [--runs 3] [--items 1000] [--direct] [--keep] [--cpu-prof] [--workdir DIR]
// For analysis, BENCH_CLI_NODE_ARGS / BENCH_EMULATOR_NODE_ARGS add node options to either process
// (e.g. "--trace-gc", "--cpu-prof --cpu-prof-dir /tmp/p"; the CLI then runs as with --direct, plus
// these); each CLI run's output is kept in its dir with --keep. Big files live in the work dir (.bench/run-*, gitignored), removed at the end.
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
const WRAPPER = join(repo, 'bin', 'cdb2cos');
const EMULATOR = join(repo, 'packages', 'emulator', 'dist', 'src', 'main.js');

const { values: flags } = parseArgs({
  options: {
    // 12.5 MB/s per connection (100 Mbit/s, 3–5× CDB's real 20–30 Mbit/s): 100 MB/s over 8 connections.
    // At 25 MB/s the two cores of the bench machine, shared by the CLI and the emulator that both hash
    // every byte (MD5 twice and CRC64 in the CLI, MD5 and CRC64 in the emulator's COS), run out first:
    // `--rate 25000000` shows that CPU-bound case.
    rate: { type: 'string', default: '12500000' },
    only: { type: 'string', default: '1g,md5,base,8g,rerun' },
    runs: { type: 'string', default: '3' },
    direct: { type: 'boolean', default: false },
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
const RUNS = Math.max(1, Math.floor(Number(flags.runs)));
/** The CLI's defaults, written into every config so the bound below matches what runs. */
const CONNECTIONS = 8;
const RSS_TARGET = 128 * MiB;
/** CPU seconds of the CLI process: a 1 GiB copy whose source sends a CRC-64; each further GiB; per GiB with CDB's MD5. */
const CPU_FIRST_GIB_TARGET = 5;
const CPU_FURTHER_GIB_TARGET = 4;
const CPU_MD5_GIB_TARGET = 7;
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
  const cdb = createCdbApi({ credentials: emu.info, region: emu.info.cdbRegion, endpoint: emu.info.cdbEndpoint, timeoutMs: 600_000 }); // the emulator may be busy hashing a new multi-GiB item on a loaded machine
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
  // As users start it: bin/cdb2cos execs node with its V8 flags (same pid, so /usr/bin/time measures
  // node itself). Node options for analysis need the direct way.
  const direct = flags.direct || nodeArgs[0] !== CLI;
  const command = direct ? [process.execPath, ...nodeArgs] : [WRAPPER, 'run', '--config', config];
  // Linux keeps ru_maxrss across execve: a CLI spawned straight from this process would inherit this
  // process's high-water mark (a 1 GiB baseline buffer). /usr/bin/time is small and reports the
  // child's own peak exactly, at exit.
  const [cmd, args] = haveTime ? [TIME, ['-v', ...command]] : [command[0]!, command.slice(1)];
  const emu0 = cpuSeconds(emu.child.pid);
  const busy0 = machineBusySeconds();
  const t0 = performance.now();
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...childEnv, CDB2COS_NODE: process.execPath } });
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

// --- 1, 2 and 4: one large item copied by the CLI, --runs times -------------------------------------

interface CopySample {
  ms: number;
  cpuS: number | undefined;
  sysS: number | undefined;
  emulatorCpuS: number | undefined;
  otherCpuS: number | undefined;
  rss: number;
  finishedRss: number;
  intact: boolean;
  down: number;
  up: number;
}

/** One copy of a fresh item of `size` bytes (same content every run: the emulator's digests are reused). */
async function copyOnce(emu: EmulatorProcess, work: string, label: string, size: number, run: number, noCrc64: boolean): Promise<CopySample> {
  const instance = `cdb-bench${label.replace(/\W/g, '').toLowerCase()}r${run}`;
  const name = `${instance}_bench.xb`;
  const seed = `bench-${size}`;
  await control(emu, 'POST', 'items', { instance, items: [{ type: 'data', name, size, md5: true, seed, minutesAgo: 60, ...(noCrc64 ? { noCrc64: true } : {}) }] });
  const t = performance.now();
  const item = await warmItem(emu, instance, 'data', name);
  note(`${label} run ${run}: emulator digests ready in ${sec(performance.now() - t)} s (not timed)`);
  await control(emu, 'POST', 'reset-log');
  const dir = join(work, `cli-${label.replace(/\W/g, '')}-${run}`);
  const config = await writeConfig(dir, emu, instance, 'data');
  note(`${label} run ${run}: cdb2cos run …`);
  const r = await runCli(emu, dir, config, `${label}-${run}`);
  checkRun(`${label} copy`, r);
  const st = await state(emu);
  const landed = st.cos.objects.filter((o) => o.key.includes(`${instance}/`) && o.key.endsWith(name));
  const intact = landed.length === 1 && landed[0]!.size === size && landed[0]!.crc64 === item.crc64;
  // The GiBs of each run go: the next run copies a fresh item.
  for (const o of landed) await benchCos(emu).deleteObject(o.key);
  if (!flags.keep) await rm(join(dir, 'staging'), { recursive: true, force: true });
  const f = r.finished!;
  const others = r.machineCpuS !== undefined && r.cliCpuS !== undefined && r.emulatorCpuS !== undefined ? r.machineCpuS - r.cliCpuS - r.emulatorCpuS : undefined;
  note(`${label} run ${run}: wall ${sec(r.ms)} s, CLI CPU ${r.cliCpuS?.toFixed(2) ?? '?'} s, peak RSS ${mib(r.peakRssBytes)} MiB`);
  return {
    ms: r.ms,
    cpuS: r.cliCpuS,
    sysS: r.cliSysS,
    emulatorCpuS: r.emulatorCpuS,
    otherCpuS: others,
    rss: r.peakRssBytes,
    finishedRss: f['maxRssBytes'] ?? 0,
    intact,
    down: f['bytesDownloaded'] ?? 0,
    up: f['bytesUploaded'] ?? 0,
  };
}

let cosClient: ReturnType<typeof createCosApi> | undefined;
function benchCos(emu: EmulatorProcess): ReturnType<typeof createCosApi> {
  const i = emu.info;
  return (cosClient ??= createCosApi({ credentials: { secretId: i.secretId, secretKey: i.secretKey }, region: i.cosRegion, bucket: i.bucket, endpoint: i.cosEndpoint, timeoutMs: 600_000 }));
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
/** "median (min–max)" of the defined values, each shown by fmt. */
const spread = (xs: Array<number | undefined>, fmt: (x: number) => string): string => {
  const d = xs.filter((x): x is number => x !== undefined);
  if (d.length === 0) return '?';
  return d.length === 1 ? fmt(d[0]!) : `${fmt(median(d))} (${fmt(Math.min(...d))}–${fmt(Math.max(...d))})`;
};

interface CaseResult {
  wallMs: number;
  cpuS: number | undefined;
}

/**
 * A copy case: `runs` copies, then rows of medians and ranges. cpuTarget judges the median CPU
 * seconds of the CLI (a function of them, e.g. per GiB), and says how in its text.
 */
async function benchCopy(
  emu: EmulatorProcess,
  work: string,
  label: string,
  size: number,
  opts: { noCrc64: boolean; cpuTarget: (cpuS: number) => { figure: string; target: string; ok: boolean } },
): Promise<CaseResult> {
  const samples: CopySample[] = [];
  for (let run = 1; run <= RUNS; run++) samples.push(await copyOnce(emu, work, label, size, run, opts.noCrc64));
  const gib = size / GiB;
  const bound = (BOUND_FACTOR * size) / (CONNECTIONS * RATE);
  const wallMs = median(samples.map((x) => x.ms));
  const test = `${label} copy${opts.noCrc64 ? ', source without CRC-64 (CDB MD5 checked)' : ''}, ${samples.length} run${samples.length > 1 ? 's' : ''}`;
  row(test, `wall ${spread(samples.map((x) => x.ms / 1000), (v) => v.toFixed(2))} s, ${mb((size / wallMs) * 1000)} MB/s (median)`, `≤ ${bound.toFixed(2)} s = 1.15×size/(${CONNECTIONS}×${mb(RATE)} MB/s)`, wallMs / 1000 <= bound);
  const cpus = samples.map((x) => x.cpuS);
  const known = cpus.filter((x): x is number => x !== undefined);
  const cpuMedian = known.length > 0 ? median(known) : undefined;
  if (cpuMedian !== undefined) {
    const t = opts.cpuTarget(cpuMedian);
    row('', `CLI CPU ${spread(cpus, (v) => v.toFixed(2))} s = ${spread(cpus.map((c) => (c === undefined ? undefined : c / gib)), (v) => v.toFixed(2))} CPU-s/GiB (sys ${spread(samples.map((x) => x.sysS), (v) => v.toFixed(2))} s)${t.figure}`, t.target, t.ok);
  } else {
    row('', 'CLI CPU unknown (no /usr/bin/time)', '', false);
  }
  const maxRss = Math.max(...samples.map((x) => x.rss));
  row('', `peak RSS ${spread(samples.map((x) => x.rss), mib)} MiB (${haveTime ? '/usr/bin/time -v' : 'VmHWM sampled'}; 'finished' maxRssBytes ${spread(samples.map((x) => x.finishedRss), mib)} MiB)`, `≤ ${mib(RSS_TARGET)} MiB (max of runs)`, maxRss <= RSS_TARGET);
  row('', `CPU s beside the CLI: emulator ${spread(samples.map((x) => x.emulatorCpuS), (v) => v.toFixed(1))}, other load ${spread(samples.map((x) => x.otherCpuS), (v) => v.toFixed(1))}, of ${((CORES * wallMs) / 1000).toFixed(1)} (${CORES} cores × wall)`, 'diagnostic');
  const intact = samples.every((x) => x.intact);
  row('', `landed, CRC64 ${intact ? 'equals the source' : 'WRONG'} in every run; down ${mib(samples[0]!.down)} MiB, up ${mib(samples[0]!.up)} MiB (first run)`, 'byte-exact copy', intact);
  return { wallMs, cpuS: cpuMedian };
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
    let small: CaseResult | undefined;
    let base: number | undefined;
    const smallLabel = `${Number(flags.gib)} GiB`;
    const smallGib = SMALL / GiB;
    // The CPU target of the first GiB is for 1 GiB; another --gib scales it as 1 GiB + further GiBs.
    const smallCpuTarget = CPU_FIRST_GIB_TARGET + CPU_FURTHER_GIB_TARGET * Math.max(0, smallGib - 1);
    await stage('1g', `${smallLabel} copy`, async () => {
      small = await benchCopy(emu!, work, smallLabel, SMALL, {
        noCrc64: false,
        cpuTarget: (c) => ({ figure: '', target: `≤ ${smallCpuTarget.toFixed(1)} CPU-s (median)`, ok: c <= smallCpuTarget }),
      });
    });
    await stage('md5', `${smallLabel} copy without source CRC-64`, async () => {
      await benchCopy(emu!, work, `${smallLabel} md5`, SMALL, {
        noCrc64: true,
        cpuTarget: (c) => ({ figure: '', target: `≤ ${CPU_MD5_GIB_TARGET} CPU-s/GiB (median)`, ok: c / smallGib <= CPU_MD5_GIB_TARGET }),
      });
    });
    await stage('base', 'baseline', async () => (base = await benchBaseline(emu!, SMALL)));
    if (small !== undefined && base !== undefined) {
      const x = base / small.wallMs;
      row('speed-up over the 2018 way', `${x.toFixed(1)}× (${sec(base)} s → ${sec(small.wallMs)} s)`, `≥ ${SPEEDUP_TARGET}×`, x >= SPEEDUP_TARGET);
    }
    const bigGib = BIG / GiB;
    await stage('8g', `${bigGib} GiB copy`, async () => {
      await benchCopy(emu!, work, `${bigGib} GiB`, BIG, {
        noCrc64: false,
        // Per further GiB: against this bench's own small case when it ran, else against the 1 GiB target.
        cpuTarget: (c) => {
          const first = small?.cpuS !== undefined && smallGib < bigGib ? small.cpuS : CPU_FIRST_GIB_TARGET;
          const firstGib = small?.cpuS !== undefined && smallGib < bigGib ? smallGib : 1;
          const further = (c - first) / (bigGib - firstGib);
          return {
            figure: `; ${further.toFixed(2)} CPU-s per GiB beyond the first ${firstGib} (${small?.cpuS !== undefined && smallGib < bigGib ? 'measured' : 'taken as the 5 s target'})`,
            target: `≤ ${CPU_FURTHER_GIB_TARGET} CPU-s per further GiB`,
            ok: further <= CPU_FURTHER_GIB_TARGET,
          };
        },
      });
    });
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
    `cdb2cos bench: rate ${mb(RATE)} MB/s per download connection, ${CONNECTIONS} connections, emulator in its own process; CLI started ${flags.direct ? 'as node dist/src/cli.js (--direct: no V8 flags)' : 'by bin/cdb2cos'}; ${RUNS} run(s) per copy case, median (range); peak RSS of the CLI process by ${haveTime ? '/usr/bin/time -v' : 'VmHWM sampled'}`,
    line('test', 'figure', 'target', 'result'),
    line('-'.repeat(w[0]!), '-'.repeat(w[1]!), '-'.repeat(w[2]!), '------'),
    ...rows.map((r) => line(r.test, r.figure, r.target, r.verdict)),
    `total bench time ${sec(totalMs)} s`,
    '',
  ];
  process.stdout.write(out.join('\n'));
}

await main();
