// Survey: per unit of each source, its listing, and per destination its manifest and bucket listing,
// become one plan: the items to copy (each to the destinations lacking a verified copy) and why the
// others are left alone.
import { keyFieldsReader, keysOutsideRetention } from '../core/retention.js';
import { verifiedByHead } from '../core/verified-copy.js';
import { Manifest } from '../cos/manifest.js';
import type { Destination } from '../destinations/destination.js';
import { Cdb2cosError, errInfo } from '../errors.js';
import { listPrefix, planCopies, renderKey, type PlannedCopy, type SkipReason } from '../plan.js';
import type { Source, TypeListing, TypeListingFailure } from '../sources/source.js';
import { readState, removeStaged, stagedPaths } from '../transfer/staging.js';
import type { CatalogItem, ItemType } from '../types.js';
import { errorFields, type Run } from './context.js';
import { policyOf } from '../core/error-policy.js';
import { savedUpload } from '../core/resume.js';

/** Objects listed but absent from the manifest are checked by HEAD, this many at once. */
const HEAD_CONCURRENCY = 8;

export async function survey(run: Run): Promise<void> {
  for (const source of run.sources) {
    if (run.deps.signal.aborted) return;
    const units = await source.units();
    run.owned.set(source, source.owned?.() ?? units);
    for (const unit of units) {
      if (run.deps.signal.aborted) return;
      try {
        await surveyUnit(run, source, unit);
      } catch (err) {
        // The error policy: what stops the run (auth, a signal, a missing bucket) ends it here.
        const effect = policyOf(err, 'listing');
        if (effect.stopsRun) throw err;
        const notFound = err instanceof Cdb2cosError && err.code === 'ERR_NOT_FOUND';
        const say = notFound && source.kind === 'cdb' ? `cdb.instances: instance ${unit} not found in region ${run.config.cdb!.region}` : `${unit}: listing failed: ${errInfo(err)['message'] as string}`;
        run.emit({ kind: 'listing-failed', instance: unit, type: null, ...errorFields(err), severity: effect.severity, say });
      }
    }
  }
}

async function surveyUnit(run: Run, source: Source, unit: string): Promise<void> {
  const { config, opts, deps } = run;
  const { log } = deps;
  const listings = await source.list(unit);
  const items: CatalogItem[] = [];
  const listed: TypeListing[] = [];
  for (const l of listings) {
    if ('error' in l) {
      noteListingFailure(run, unit, l);
      continue;
    }
    // CDB's pages are counted as their requests are made (the source emits them); a URL list or a local folder makes none.
    run.emit({ kind: 'unit-listed', instance: unit, type: l.type, count: l.items.length, pages: l.pages });
    items.push(...l.items);
    listed.push(l);
  }
  if (listed.length === 0) return;

  /** Per destination: the plan of its copies. */
  const plans = new Map<Destination, ReturnType<typeof planCopies>>();
  for (const dest of run.destinations) {
    const { manifest, warning } = await run.apiRetry('read manifest', () => Manifest.load(dest, dest.prefix, unit, deps));
    if (warning) log.warn({ instance: unit, destination: dest.kind }, warning);
    run.manifests.get(dest)!.set(unit, manifest);
    const templateOf = (item: CatalogItem): string => source.keyTemplate?.(item) ?? dest.keyTemplate;
    const { objects, pages } = await run.apiRetry('list bucket', () => dest.listObjects(unitPrefix(source, dest, unit)));
    run.emit({ kind: 'destination-listed', instance: unit, destination: dest.label, count: objects.length, pages });
    const inBucket = new Map(objects.map((o) => [o.key, { size: o.size, etag: o.etag }]));
    let outsideRetention: Set<string> | undefined;
    if (config.retention !== undefined) {
      const keyed = items.flatMap((item) => {
        try {
          return [{ item, key: renderKey(templateOf(item), dest.prefix, item) }];
        } catch {
          return [];
        }
      });
      outsideRetention = source.kind === 'cdb' ? keysOutsideRetention(keyed, manifest.recorded(), keyFieldsReader(dest.keyTemplate, dest.prefix, unit), config.retention, deps.now()) : undefined;
    }
    const plan = planCopies(items, manifest.known(), inBucket, { since: opts.since, until: opts.until, prefix: dest.prefix, keyTemplate: templateOf, outsideRetention });
    // Listed, same size, but not in the manifest: a HEAD tells whether it is a verified copy of ours.
    const checks = [...plan.check];
    await Promise.all(
      Array.from({ length: Math.min(HEAD_CONCURRENCY, checks.length) }, async () => {
        for (let c = checks.shift(); c; c = checks.shift()) {
          const ok = await isVerifiedCopy(run, dest, c);
          if (ok) {
            manifest.record(c.key, { size: c.item.size, etag: ok.etag, crc64: ok.crc64, md5: c.item.md5, id: c.item.id, copiedAt: new Date(deps.now()).toISOString(), ...itemFacts(c.item) });
            plan.skip.push({ item: c.item, key: c.key, reason: 'already-copied' });
          } else plan.copy.push(c);
        }
      }),
    );
    plans.set(dest, plan);
  }

  // What the end-of-run clean-up may judge: the types listed in full, with each item's (first) key.
  const first = run.destinations[0]!;
  for (const l of listed) {
    const byPath = new Map<string, { item: CatalogItem; key: string }>();
    for (const item of l.items) {
      // An item whose name cannot form a key fails alone in its copy; it never has staging to judge.
      let key: string;
      try {
        key = renderKey(source.keyTemplate?.(item) ?? first.keyTemplate, first.prefix, item);
      } catch {
        continue;
      }
      byPath.set(stagedPaths(config.transfer.stagingDir, item).data, { item, key });
    }
    run.listedInFull.push({ instance: unit, type: l.type, byPath, narrowed: l.narrowed });
  }

  // One decision per item over every destination: copy to those lacking it, else skip for the first's reason.
  const byItem = new Map<CatalogItem, { copy: PlannedCopy[]; skip: Array<{ key: string; reason: SkipReason; dest: Destination }> }>();
  for (const item of items) byItem.set(item, { copy: [], skip: [] });
  const targetsOf = new Map<CatalogItem, Array<{ dest: Destination; key: string }>>();
  for (const dest of run.destinations) {
    const plan = plans.get(dest)!;
    for (const c of plan.copy) {
      byItem.get(c.item)?.copy.push(c);
      targetsOf.set(c.item, [...(targetsOf.get(c.item) ?? []), { dest, key: c.key }]);
    }
    for (const s of plan.skip) byItem.get(s.item)?.skip.push({ key: s.key, reason: s.reason, dest });
  }
  const skipped: Partial<Record<SkipReason, number>> = {};
  const toCopy: Array<{ item: CatalogItem; targets: Array<{ dest: Destination; key: string }> }> = [];
  for (const [item, d] of byItem) {
    const targets = targetsOf.get(item);
    if (targets !== undefined && targets.length > 0) {
      toCopy.push({ item, targets });
      continue;
    }
    const s = d.skip[0];
    if (s === undefined) continue;
    skipped[s.reason] = (skipped[s.reason] ?? 0) + 1;
    noteSkip(run, item, s.key, s.reason);
    if (s.reason === 'already-copied') {
      // A run stopped between Complete and clean-up leaves its staged copy behind.
      if (!opts.dryRun && d.skip.every((x) => x.reason === 'already-copied')) run.copiedElsewhere.add(stagedPaths(config.transfer.stagingDir, item).data);
    }
    if (s.reason === 'outside-retention') run.expiredStaged.add(stagedPaths(config.transfer.stagingDir, item).data);
  }
  // Oldest first: if a run is cut short, the gap left is at the recent end, which the next run fills.
  toCopy.sort((a, b) => a.item.time - b.item.time || a.targets[0]!.key.localeCompare(b.targets[0]!.key));
  // One line per unit says what each skip line (at debug for copies already made) would.
  run.emit({ kind: 'unit-planned', instance: unit, toCopy: toCopy.length, skipped });
  for (const c of toCopy) {
    const key = c.targets[0]!.key;
    run.emit({ kind: 'item-planned', instance: unit, type: c.item.type, name: c.item.name, size: c.item.size, key, ...(opts.dryRun ? { targets: c.targets.map((t) => `${t.dest.label}/${t.key}`) } : {}) });
    if (!opts.dryRun) run.jobs.push({ item: c.item, access: source.access(c.item), targets: c.targets });
  }
}

/** What to list in a destination for a unit: the longest prefix shared by the keys of every template its items may have. */
export function unitPrefix(source: Source, dest: Destination, unit: string): string {
  const prefixes = (source.keyTemplates?.() ?? [dest.keyTemplate]).map((t) => listPrefix(t, dest.prefix, unit));
  let common = prefixes[0] ?? '';
  for (const p of prefixes) while (!p.startsWith(common)) common = common.slice(0, common.lastIndexOf('/', common.length - 2) + 1);
  return common;
}

async function isVerifiedCopy(run: Run, dest: Destination, c: PlannedCopy): Promise<{ etag: string; crc64: string } | undefined> {
  const head = await run.apiRetry('head', () => dest.headObject(c.key));
  const st = run.opts.dryRun || head === undefined ? undefined : await readState(stagedPaths(run.config.transfer.stagingDir, c.item).state);
  const up = st === undefined ? undefined : savedUpload(st, dest.kind);
  const ok = verifiedByHead(c.item, head, up?.key === c.key ? (up.verified?.crc64 ?? st?.expectedCrc64) : undefined, dest.checksum);
  if (ok && !run.opts.dryRun && st !== undefined && run.destinations.length === 1) {
    await removeStaged(stagedPaths(run.config.transfer.stagingDir, c.item)).catch(() => undefined);
  }
  return ok;
}

function noteListingFailure(run: Run, instance: string, l: TypeListingFailure): void {
  const err = l.error;
  // Single-node and cluster editions cannot give slow logs at all: every run would fail the same way,
  // and a permanent exit 1 teaches people to ignore exit 1. So this is a loud warning (stderr, once per
  // instance and run, which cron mails), not a failure.
  if ('unsupported' in l && l.unsupported === true) {
    const say = `${instance}: CDB cannot give slow logs of this instance (${err.serviceCode}: single-node and cluster editions have no slow log download); remove slowlog from cdb.types for it. Its other types are copied.`;
    run.emit({ kind: 'type-unsupported', instance, type: l.type, ...errorFields(err), say });
    return;
  }
  // One type failing to list fails that type (exit 1): the unit's other types, and the other units and
  // sources, are still copied. A bad URL list is one such failure too, not a bad config: the rest ran.
  const effect = policyOf(err, 'listing');
  const rest = l.type === 'url' || l.type === 'file' ? 'the other sources are still copied' : "the instance's other types are still copied";
  run.emit({ kind: 'listing-failed', instance, type: l.type, ...errorFields(err), severity: effect.severity === 'auth' ? 'auth' : 'item', say: `${instance} ${l.type}: listing failed: ${err.message}; ${rest}` });
}

function noteSkip(run: Run, item: CatalogItem, key: string, reason: SkipReason): void {
  const ref = { instance: item.instance, type: item.type, name: item.name, key };
  if (reason === 'failed-at-source' && item.failure !== undefined) {
    // A URL the server refused, a file that cannot be read: nothing will copy it until someone acts, so
    // it is a failure (exit 1), not a skip.
    const err = new Cdb2cosError('ERR_SOURCE_CHANGED', item.failure);
    run.emit({ kind: 'item-failed', ...ref, size: item.size, ...errorFields(err), severity: policyOf(err).severity, ms: 0 });
    return;
  }
  run.emit({ kind: 'item-skipped', ...ref, size: item.size, reason, ...(reason === 'failed-at-source' ? { status: item.status } : {}), ...(item.source !== undefined ? { source: item.source } : {}) });
}

/** What retention needs to know of a recorded copy: its type and the item's time. */
export function itemFacts(item: CatalogItem): { type: ItemType; time?: string; validator?: string } {
  const v = item.validator !== undefined ? { validator: item.validator } : {};
  return Number.isFinite(item.time) ? { type: item.type, time: new Date(item.time).toISOString(), ...v } : { type: item.type, ...v };
}
