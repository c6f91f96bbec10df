// One item's copy in this process, against the memory fakes: a MemorySource (http access: its own HTTP
// server on 127.0.0.1) and a MemoryDestination, a staging folder, a logger whose events the test reads,
// and a clock whose sleeps return at once (retries cost no wall time).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { pino } from 'pino';
import { Agent } from 'undici';
import { copyItem, type CopyResult } from '../../src/transfer/copy-item.js';
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
  dest: MemoryDestination;
  stagingDir: string;
  logs: LogLine[];
  /** The listed item (as the survey would hand it to the copy). */
  item(unit: string, name: string): Promise<CatalogItem>;
  /** Copies one item; `signal` stands for SIGINT/SIGTERM; `onDownloaded` sees bytes as they are staged. */
  copy(item: CatalogItem, opts?: { signal?: AbortSignal; onDownloaded?: (n: number) => void; connections?: number; partSize?: number }): Promise<CopyResult>;
  state(item: CatalogItem): Promise<ItemState | undefined>;
  key(item: CatalogItem): string;
}

export async function copyHarness(t: TestContext, src: Omit<MemorySourceOptions, 'access'>, dest: MemoryDestinationOptions = {}): Promise<CopyHarness> {
  const source = await MemorySource.create({ ...src, access: 'http' });
  const stagingDir = await mkdtemp(join(tmpdir(), 'cdb2cos-inproc-'));
  const dispatcher = new Agent({ connections: 16 });
  t.after(async () => {
    await dispatcher.close();
    await source.close();
    await rm(stagingDir, { recursive: true, force: true });
  });
  const memory = new MemoryDestination({ prefix: 'bk/', ...dest });
  const logs: LogLine[] = [];
  const log = pino({ level: 'debug' }, { write: (line: string) => void logs.push(JSON.parse(line) as LogLine) });
  const key = (item: CatalogItem): string => `${memory.prefix}${item.instance}/${item.type}/${item.name}`;
  return {
    source,
    dest: memory,
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
      const access = source.access(item);
      if (access.kind !== 'http') throw new TypeError('copyItem reads http access only');
      return copyItem(
        { item, key: key(item), url: access.url, refreshUrl: access.refresh },
        { stagingDir, connectionsPerItem: opts.connections ?? 2, partSize: opts.partSize ?? MiB, timeoutMs: 10_000, retryBudgetMs: 60_000 },
        {
          cos: memory,
          dispatcher,
          connections: new Semaphore(8),
          uploads: new Semaphore(4),
          limiter: undefined,
          disk: { reserve: async () => () => undefined },
          log: log.child({ instance: item.instance, type: item.type, name: item.name }),
          now: Date.now,
          sleep: async (_ms, signal) => signal?.throwIfAborted(),
          random: () => 0.5,
          signal: opts.signal ?? new AbortController().signal,
          onDownloaded: opts.onDownloaded,
        },
      );
    },
    state: (item) => readState(stagedPaths(stagingDir, item).state),
  };
}
