// `cdb2cos prune`: deletes the recorded copies that [retention] lets go (src/core/retention.ts decides),
// and nothing else. Per instance, in three steps, each safe to interrupt:
//   1. tombstones for everything to delete go into the manifest (merged, read back); the entries leave it;
//   2. each object is deleted, only while the bucket lists it with the recorded ETag;
//   3. the tombstones get `deletedAt` (written at the end, and again by the next prune if lost).
// A rerun first finishes every tombstone without `deletedAt`. Concurrent `run` jobs cannot bring the
// entries back (see manifest.ts), and they do not copy the items again (skip reason outside-retention).
import { manifestInstances } from '../cdb/discovery.js';
import type { Destination } from '../destinations/destination.js';
import { Manifest, type Tombstone } from '../cos/manifest.js';
import { candidateFromEntry, decideRetention, keyFieldsReader, type Decision } from '../core/retention.js';
import { Cdb2cosError, ERROR_CLASSIFIER, errInfo } from '../errors.js';
import { takeStagingLock, type Lock } from '../lock.js';
import { listPrefix } from '../plan.js';
import { requestRetry } from '../retry.js';
import { formatBytes, type Reporter } from '../run/index.js';
import type { CdbCosConfig, Runtime } from '../types.js';

export interface PruneOptions {
  dryRun: boolean;
  instances?: string[] | undefined;
}

export interface PruneDeps extends Runtime {
  cos: Destination;
  report: Reporter;
}

export interface PrunedObject {
  instance: string;
  key: string;
  type: string | undefined;
  bytes: number;
  reason: string;
}

export interface PruneSummary {
  dryRun: boolean;
  /** Deleted (or, in a dry run, to be deleted). */
  deleted: PrunedObject[];
  failed: Array<PrunedObject & { error: string }>;
  /** Recorded objects retention keeps, by reason. */
  kept: Record<string, number>;
  bytes: number;
  durationMs: number;
  worst: 'none' | 'item' | 'config' | 'auth';
}

/** Deletions in flight at once. */
const DELETE_CONCURRENCY = 8;

export async function pruneBackups(config: CdbCosConfig, opts: PruneOptions, deps: PruneDeps): Promise<PruneSummary> {
  const policy = config.retention;
  if (policy === undefined) throw new Cdb2cosError('ERR_CONFIG', `retention: ${config.path} has no [retention] section; prune deletes nothing without one`);
  const t0 = deps.now();
  const { log, report } = deps;
  const summary: PruneSummary = { dryRun: opts.dryRun, deleted: [], failed: [], kept: {}, bytes: 0, durationMs: 0, worst: 'none' };
  const raise = (w: PruneSummary['worst']): void => {
    const rank = { none: 0, item: 1, config: 2, auth: 3 };
    if (rank[w] > rank[summary.worst]) summary.worst = w;
  };
  const apiRetry = requestRetry(
    { ...deps, onRetry: ({ err, ...info }) => log.warn({ ...info, err: errInfo(err) }, 'retrying') },
    () => Math.min(config.transfer.itemRetryBudgetMs, 10 * 60_000),
    ERROR_CLASSIFIER,
  );
  // With cdb.instances = *, prune works on every instance that has a manifest: it deletes only what they record.
  const instances =
    opts.instances ??
    (config.cdb.instances.includes('*')
      ? manifestInstances((await apiRetry('list manifests', () => deps.cos.listObjects(`${config.cos.prefix}.cdb2cos/`))).objects.map((o) => o.key), config.cos.prefix)
      : config.cdb.instances);

  let lock: Lock | undefined;
  if (!opts.dryRun) {
    lock = await takeStagingLock(config.transfer.stagingDir, config.transfer.lockStaleAfterMs, log, (l) => report.warn(l));
  }
  log.info({ instances, dryRun: opts.dryRun, bucket: config.cos.bucket, retention: policy }, 'prune started');
  try {
    await apiRetry('probe destination', () => deps.cos.probe());
    for (const instance of instances) {
      if (deps.signal.aborted) break;
      try {
        await pruneInstance(instance);
      } catch (err) {
        if (err instanceof Cdb2cosError && ['ERR_AUTH', 'ERR_PERMISSION', 'ERR_ABORTED'].includes(err.code)) throw err;
        raise('item');
        log.error({ instance, err: errInfo(err) }, 'prune failed');
        report.warn(`${instance}: prune failed: ${errInfo(err)['message'] as string}`);
      }
    }
  } finally {
    summary.durationMs = deps.now() - t0;
    await lock?.release().catch(() => undefined);
  }
  const failedNote = summary.failed.length > 0 ? `, failed ${summary.failed.length}` : '';
  const keptCount = Object.values(summary.kept).reduce((a, b) => a + b, 0);
  report.summary(`${opts.dryRun ? 'dry run: would delete' : 'deleted'} ${summary.deleted.length} (${formatBytes(summary.bytes)}), kept ${keptCount}${failedNote} in ${(summary.durationMs / 1000).toFixed(1)} s`);
  log.info({ deleted: summary.deleted.length, bytes: summary.bytes, kept: summary.kept, failed: summary.failed.length, ms: summary.durationMs, dryRun: opts.dryRun }, 'prune finished');
  return summary;

  async function pruneInstance(instance: string): Promise<void> {
    const { manifest, warning } = await apiRetry('read manifest', () => Manifest.load(deps.cos, config.cos.prefix, instance, deps));
    if (warning) {
      // An unreadable manifest records nothing: there is nothing this tool may delete.
      log.warn({ instance }, warning);
      report.warn(`${instance}: ${warning}; nothing pruned`);
      return;
    }
    const prefix = listPrefix(config.cos.key, config.cos.prefix, instance);
    const { objects } = await apiRetry('list bucket', () => deps.cos.listObjects(prefix));
    const listed = new Map<string, { etag: string; size: number }>(objects.map((o) => [o.key, o]));

    const fromKey = keyFieldsReader(config.cos.key, config.cos.prefix, instance);
    const recorded = manifest.recorded();
    const decisions: Decision[] = decideRetention(
      [...recorded].map(([k, e]) => candidateFromEntry(k, e, fromKey(k))),
      policy!,
      deps.now(),
    );
    const typeOf = (key: string): string | undefined => recorded.get(key)?.type ?? fromKey(key).type;
    // A key to delete outside the listing (written under an earlier cos.key) gets a HEAD: absence from
    // the listing proves nothing about it.
    const pendingKeys = [...manifest.tombstones()].filter(([, t]) => t.deletedAt === undefined).map(([k]) => k);
    for (const key of [...pendingKeys, ...decisions.filter((d) => d.action === 'delete').map((d) => d.key)]) {
      if (key.startsWith(prefix) || listed.has(key)) continue;
      const head = await apiRetry('head', () => deps.cos.headObject(key));
      if (head) listed.set(key, { etag: head.etag, size: head.size });
    }

    // What goes: deletions a previous prune began, then what retention lets go now.
    const goes: Array<PrunedObject & { etag: string }> = [];
    for (const [key, t] of manifest.tombstones()) {
      if (t.deletedAt === undefined) goes.push({ instance, key, type: fromKey(key).type, bytes: t.size, reason: t.reason, etag: t.etag });
    }
    for (const d of decisions) {
      if (d.action === 'keep') {
        summary.kept[d.reason] = (summary.kept[d.reason] ?? 0) + 1;
        continue;
      }
      const e = recorded.get(d.key)!;
      const inBucket = listed.get(d.key);
      if (inBucket !== undefined && (inBucket.etag !== e.etag || inBucket.size !== e.size)) {
        // Something else now sits at the key: not the copy recorded, so not ours to delete.
        summary.kept['changed'] = (summary.kept['changed'] ?? 0) + 1;
        log.warn({ instance, key: d.key, recordedEtag: e.etag, listedEtag: inBucket.etag }, 'prune skipped');
        continue;
      }
      goes.push({ instance, key: d.key, type: typeOf(d.key), bytes: e.size, reason: d.reason, etag: e.etag });
    }
    if (opts.dryRun) {
      for (const g of goes) {
        summary.deleted.push(strip(g));
        summary.bytes += g.bytes;
        log.info({ instance, type: g.type, key: g.key, bytes: g.bytes, reason: g.reason }, 'would prune');
        report.item(`would delete cos://${config.cos.bucket}/${g.key} (${formatBytes(g.bytes)}, ${g.reason})`);
      }
      return;
    }
    if (goes.length === 0) return;

    // Step 1: the tombstones, before any object goes.
    for (const g of goes) if (recorded.has(g.key)) manifest.markDeleting(g.key, g.reason, deps.now());
    await apiRetry('write manifest', () => manifest.flush());

    // Step 2: the objects. A tombstone voided meanwhile (the object was copied again) keeps its object.
    const queue = goes.filter((g) => isPending(manifest.tombstones().get(g.key), g.etag));
    await Promise.all(
      Array.from({ length: Math.min(DELETE_CONCURRENCY, queue.length) }, async () => {
        for (let g = queue.shift(); g && !deps.signal.aborted && summary.worst !== 'auth'; g = queue.shift()) await deleteOne(manifest, g, listed.get(g.key));
      }),
    );

    // Step 3: record what was deleted. If this write is lost, the next prune deletes (nothing) again.
    await apiRetry('write manifest', () => manifest.flush());
  }

  async function deleteOne(manifest: Manifest, g: PrunedObject & { etag: string }, inBucket: { etag: string } | undefined): Promise<void> {
    const ctx = { instance: g.instance, type: g.type, key: g.key, bytes: g.bytes, reason: g.reason };
    try {
      if (inBucket !== undefined && inBucket.etag !== g.etag) {
        // Another object took the key since the tombstone was written: the recorded copy is gone, this
        // one is not ours.
        manifest.markDeleted(g.key, deps.now());
        log.warn({ ...ctx, listedEtag: inBucket.etag }, 'prune skipped');
        return;
      }
      if (inBucket !== undefined) {
        await apiRetry('delete object', () => deps.cos.deleteObject(g.key));
      }
      // Gone from the bucket already (deleted by a prune that stopped before its last write, or by a
      // lifecycle rule): only the record goes.
      manifest.markDeleted(g.key, deps.now());
      summary.deleted.push(strip(g));
      summary.bytes += g.bytes;
      log.info(inBucket === undefined ? { ...ctx, alreadyGone: true } : ctx, 'pruned');
      report.item(`deleted cos://${config.cos.bucket}/${g.key} (${formatBytes(g.bytes)}, ${g.reason})`);
    } catch (err) {
      const e = err instanceof Cdb2cosError ? err : new Cdb2cosError('ERR_IO', String(err), { cause: err });
      if (e.code === 'ERR_ABORTED') return;
      raise(e.code === 'ERR_AUTH' || e.code === 'ERR_PERMISSION' ? 'auth' : 'item');
      summary.failed.push({ ...strip(g), error: e.message });
      log.error({ ...ctx, err: errInfo(e) }, 'prune failed');
      report.warn(`FAILED to delete cos://${config.cos.bucket}/${g.key}: ${e.message}; the next prune tries again`);
    }
  }
}

function isPending(t: Tombstone | undefined, etag: string): boolean {
  return t !== undefined && t.deletedAt === undefined && t.etag === etag;
}

function strip(g: PrunedObject & { etag?: string }): PrunedObject {
  return { instance: g.instance, key: g.key, type: g.type, bytes: g.bytes, reason: g.reason };
}
