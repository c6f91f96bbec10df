// One item's copy (src/transfer/item-copy.ts) in this process, against the memory fakes: a MemorySource
// (http access through its own HTTP server on 127.0.0.1, or file access read in place) and one or more
// MemoryDestinations, a staging folder, a logger whose events the test reads, and a clock whose sleeps
// return at once (retries cost no wall time).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { pino } from 'pino';
import { Agent } from 'undici';
import { copyItem, type CopyResult } from '../../src/transfer/item-copy.js';
import { Semaphore } from '../../src/transfer/rate-limit.js';
import { readState, stagedPaths, type ItemState } from '../../src/transfer/staging.js';
import type { CatalogItem } from '../../src/types.js';
import { MemoryDestination, type MemoryDestinationOptions } from '../helpers/memory-destination.js';
import { MemorySource, type MemorySourceOptions } from '../helpers/memory-source.js';
import type { TypeListing } from '../../src/sources/source.js';

export const MiB = 1024 * 1024;

export interface LogLine {
  level: number;
  msg: string;
  [k: string]: unknown;
}

export interface CopyHarness {
  source: MemorySource;
  /** The first destination; `dests` holds them all. */
  dest: MemoryDestination;
  dests: MemoryDestination[];
  stagingDir: string;
  logs: LogLine[];
  /** The listed item (as the survey would hand it to the copy). */
  item(unit: string, name: string): Promise<CatalogItem>;
  /** Copies one item; `signal` stands for SIGINT/SIGTERM; `onDownloaded` sees bytes as they are staged. */
  copy(item: CatalogItem, opts?: { signal?: AbortSignal; onDownloaded?: (n: number) => void; connections?: number; partSize?: number }): Promise<CopyResult>;
  state(item: CatalogItem): Promise<ItemState | undefined>;
  key(item: CatalogItem): string;
}

/** `dest`: one destination's options, or several (an item copied once into each). */
export async function copyHarness(t: TestContext, src: MemorySourceOptions, dest: MemoryDestinationOptions | MemoryDestinationOptions[] = {}): Promise<CopyHarness> {
  const source = await MemorySource.create({ access: 'http', ...src });
  const stagingDir = await mkdtemp(join(tmpdir(), 'cdb2cos-inproc-'));
  const dispatcher = new Agent({ connections: 16 });
  t.after(async () => {
    await dispatcher.close();
    await source.close();
    await rm(stagingDir, { recursive: true, force: true });
  });
  const dests = (Array.isArray(dest) ? dest : [dest]).map((o) => new MemoryDestination({ prefix: 'bk/', ...o }));
  const memory = dests[0]!;
  const logs: LogLine[] = [];
  const log = pino({ level: 'debug' }, { write: (line: string) => void logs.push(JSON.parse(line) as LogLine) });
  const key = (item: CatalogItem): string => `${memory.prefix}${item.instance}/${item.type}/${item.name}`;
  return {
    source,
    dest: memory,
    dests,
    stagingDir,
    logs,
    key,
    async item(unit, name) {
      for (const l of await source.list(unit)) {
        const found = 'items' in l ? (l as TypeListing).items.find((i) => i.name === name) : undefined;
        if (found) return found;
      }
      throw new RangeError(`no item ${unit} ${name}`);
    },
    async copy(item, opts = {}) {
      return copyItem(
        { item, access: source.access(item), targets: dests.map((d) => ({ dest: d, key: `${d.prefix}${item.instance}/${item.type}/${item.name}` })) },
        { stagingDir, connectionsPerItem: opts.connections ?? 2, partSize: opts.partSize ?? MiB, timeoutMs: 10_000, retryBudgetMs: 60_000 },
        {
          dispatcher,
          connections: new Semaphore(8),
          uploads: new Semaphore(4),
          limiter: undefined,
          disk: { reserve: async () => () => undefined },
          log: log.child({ instance: item.instance, type: item.type, name: item.name }),
          now: Date.now,
          sleep: async (_ms: number, signal?: AbortSignal) => signal?.throwIfAborted(),
          random: () => 0.5,
          signal: opts.signal ?? new AbortController().signal,
          onDownloaded: opts.onDownloaded,
        },
      );
    },
    state: (item) => readState(stagedPaths(stagingDir, item).state),
  };
}
