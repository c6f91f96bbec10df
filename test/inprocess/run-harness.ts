// A whole run (runBackup: prepare → survey → copy → finalize → summary) in this process, over a
// MemorySource and MemoryDestinations: a real config read from a file (its [local] and [cos] sections
// only make it valid: the ports are the fakes), a real staging folder and lock, a logger whose events
// the test reads, the reporter's lines, and sleeps that return at once.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { pino } from 'pino';
import { Agent } from 'undici';
import { readConfig } from '../../src/config.js';
import { runBackup, type RunOptions, type Summary } from '../../src/run/index.js';
import type { Config } from '../../src/types.js';
import { MemoryDestination, type MemoryDestinationOptions } from '../helpers/memory-destination.js';
import { MemorySource, type MemorySourceOptions } from '../helpers/memory-source.js';
import type { LogLine } from './copy-harness.js';

export interface RunHarness {
  source: MemorySource;
  dest: MemoryDestination;
  dests: MemoryDestination[];
  config: Config;
  stagingDir: string;
  /** Log lines of every run so far, each with the run's number (1, 2 …). */
  logs: Array<LogLine & { run: number }>;
  /** The reporter's lines (item, warn, summary) of every run so far. */
  reports: Array<{ run: number; kind: 'item' | 'warn' | 'summary'; line: string }>;
  /** One run. `onBytes` sees the bytes staged as they arrive (through the reporter's progress view). */
  run(opts?: Partial<RunOptions> & { signal?: AbortSignal; onBytes?: (key: string, n: number) => void }): Promise<Summary>;
}

export async function runHarness(t: TestContext, src: MemorySourceOptions, dest: MemoryDestinationOptions | MemoryDestinationOptions[] = {}, transfer: Record<string, string> = {}): Promise<RunHarness> {
  const source = await MemorySource.create(src);
  const dir = await mkdtemp(join(tmpdir(), 'cdb2cos-inproc-run-'));
  const dispatcher = new Agent({ connections: 16 });
  t.after(async () => {
    await dispatcher.close();
    await source.close();
    await rm(dir, { recursive: true, force: true });
  });
  const stagingDir = join(dir, 'staging');
  await mkdir(join(dir, 'logs'));
  const ini = [
    '[credentials]',
    'secret_id = AKIDinprocessonly',
    'secret_key = inprocess-secret-never-sent',
    '[local]',
    `paths = ${source.dir}/**/*`,
    '[cos]',
    'region = ap-guangzhou',
    'bucket = inprocess-1250000000',
    '[transfer]',
    `staging_dir = ${stagingDir}`,
    ...Object.entries({ part_size: '1MiB', connections: '2', parallel_items: '2', ...transfer }).map(([k, v]) => `${k} = ${v}`),
    '[log]',
    `dir = ${join(dir, 'logs')}`,
    '',
  ].join('\n');
  const path = join(dir, 'cdb2cos.ini');
  await writeFile(path, ini, { mode: 0o600 });
  const config = await readConfig(path, {});
  const dests = (Array.isArray(dest) ? dest : [dest]).map((o, i) => new MemoryDestination({ prefix: 'bk/', label: `${o.kind ?? 'cos'}://memory-${i}`, ...o }));
  const logs: RunHarness['logs'] = [];
  const reports: RunHarness['reports'] = [];
  let runs = 0;
  return {
    source,
    dest: dests[0]!,
    dests,
    config,
    stagingDir,
    logs,
    reports,
    async run(opts = {}) {
      const n = ++runs;
      const log = pino({ level: 'debug' }, { write: (line: string) => void logs.push({ ...(JSON.parse(line) as LogLine), run: n }) });
      const { signal, onBytes, ...runOpts } = opts;
      return runBackup(
        config,
        { dryRun: false, ...runOpts },
        {
          log,
          now: Date.now,
          sleep: async (_ms: number, s?: AbortSignal) => s?.throwIfAborted(),
          random: () => 0.5,
          signal: signal ?? new AbortController().signal,
          dispatcher,
          sources: [source],
          destinations: dests,
          report: {
            item: (line) => reports.push({ run: n, kind: 'item', line }),
            warn: (line) => reports.push({ run: n, kind: 'warn', line }),
            summary: (line) => reports.push({ run: n, kind: 'summary', line }),
            progress: { plan: () => undefined, start: () => undefined, bytes: (key, b) => onBytes?.(key, b), end: () => undefined },
          },
        },
      );
    },
  };
}
