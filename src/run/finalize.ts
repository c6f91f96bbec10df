// Finalize: write the manifests, then drop what no later run would pick up: resume states the manifests
// now cover, staged copies of items gone, changed, already copied or out of retention, and multipart
// uploads of ours older than stale_upload_age.
import { readdir, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { Destination } from '../destinations/destination.js';
import { Cdb2cosError, errInfo } from '../errors.js';
import { keyPattern } from '../plan.js';
import { ownerOf, savedUpload } from '../core/resume.js';
import { unitPrefix } from './survey.js';
import { allVerified, fingerprint, listStateFiles, readState, removeStaged, stagedBytes, stagedPaths, type ItemState } from '../transfer/staging.js';
import type { Run } from './context.js';

export async function flushManifests(run: Run): Promise<void> {
  // Each write reads back after a pause (see manifest.ts): the manifests are written at once.
  const all = [...run.manifests.values()].flatMap((m) => [...m.values()]);
  const results = await Promise.allSettled(all.filter((m) => m.pending).map((m) => run.apiRetry('write manifest', () => m.flush())));
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
}

export async function finalize(run: Run): Promise<void> {
  if (run.opts.dryRun) return;
  await flushManifests(run);
  await cleanVerifiedStates(run);
  if (!run.deps.signal.aborted && run.summary.worst !== 'auth') {
    await cleanLeftovers(run);
    await abortStaleUploads(run);
  }
}

async function cleanVerifiedStates(run: Run): Promise<void> {
  for (const path of await listStateFiles(run.config.transfer.stagingDir)) {
    const st = await readState(path);
    if (st && allVerified(st)) await removeStaged({ data: path.replace(/\.cdb2cos-state\.json$/, ''), state: path });
  }
}

/** Each destination's open upload in a state: [destination, key, uploadId]. */
function openUploads(run: Run, st: ItemState): Array<[Destination, string, string]> {
  const out: Array<[Destination, string, string]> = [];
  for (const d of run.destinations) {
    const u = savedUpload(st, d.kind);
    if (u && u.uploadId !== undefined && u.verified === undefined) out.push([d, u.key, u.uploadId]);
  }
  return out;
}

/**
 * Staged bytes, state files and open uploads that no later run would pick up: items that vanished from
 * a full listing, whose source changed since they were staged, or that are already a verified copy in
 * every destination. Only types listed in full in this run are judged; a type whose listing failed keeps
 * everything. An upload that cannot be aborted now keeps its state file, so the next run tries again
 * (and stale_upload_age bounds it anyway); the staged bytes go either way.
 */
async function cleanLeftovers(run: Run): Promise<void> {
  const { config, deps } = run;
  for (const unit of run.listedInFull) {
    const dir = dirname(stagedPaths(config.transfer.stagingDir, { instance: unit.instance, type: unit.type, id: 'x', name: 'x' }).data);
    let entries;
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch {
      continue;
    }
    // A staged item is a file, or a folder of its parts' files, beside its state file.
    const datas = new Set(entries.filter((e) => e.isFile() || e.isDirectory()).map((e) => join(dir, e.name.replace(/\.cdb2cos-state\.json(?:\.tmp)?$/, ''))));
    for (const data of datas) {
      const live = unit.byPath.get(data);
      const statePath = `${data}.cdb2cos-state.json`;
      const st = await readState(statePath);
      let reason: 'vanished' | 'changed' | 'already-copied' | 'outside-retention';
      if (live === undefined) {
        if (unit.narrowed) continue;
        reason = 'vanished';
      } else if (run.copiedElsewhere.has(data)) {
        reason = 'already-copied';
      } else if (run.expiredStaged.has(data)) {
        reason = 'outside-retention';
      } else if (st !== undefined && ((ownerOf(st) === run.destinations[0]?.kind && st.key !== live.key) || st.size !== live.item.size || !st.fingerprint.startsWith(fingerprint(live.item)))) {
        // startsWith: the copy may append a tag of the source to the item's fingerprint.
        reason = 'changed';
      } else continue;
      let keepState = false;
      const open = st === undefined ? [] : openUploads(run, st);
      for (const [dest, key, uploadId] of open) {
        try {
          await run.apiRetry('abort upload', () => dest.abort(key, uploadId));
        } catch (err) {
          if (!(err instanceof Cdb2cosError && err.code === 'ERR_NOT_FOUND')) {
            keepState = true;
            deps.log.warn({ instance: unit.instance, type: unit.type, key, err: errInfo(err) }, 'stale upload clean-up failed');
          }
        }
      }
      const bytes = await stagedBytes(data);
      await removeStaged(keepState ? { data } : { data, state: statePath }).catch(() => undefined);
      if (!keepState) await rm(`${statePath}.tmp`, { force: true }).catch(() => undefined);
      deps.log.info({ instance: unit.instance, type: unit.type, file: basename(data), key: st?.key ?? live?.key, reason, bytes, uploadAborted: open.length > 0 && !keepState }, 'staged copy removed');
    }
  }
}

async function abortStaleUploads(run: Run): Promise<void> {
  const { config, deps } = run;
  const limit = deps.now() - config.transfer.staleUploadMs;
  for (const dest of run.destinations) {
    try {
      // The units of this run's shard (all of them, not just those --instance names), each source's.
      // Only uploads whose key has the shape this tool writes for a unit of ours are ours to abort.
      const ours: RegExp[] = [];
      const prefixes = new Set<string>();
      for (const [source, units] of run.owned) {
        for (const u of units) {
          for (const t of source.keyTemplates?.() ?? [dest.keyTemplate]) ours.push(keyPattern(t, dest.prefix, u));
          prefixes.add(unitPrefix(source, dest, u));
        }
      }
      const uploads = (await Promise.all([...prefixes].map((p) => run.apiRetry('list uploads', () => dest.listUploads(p))))).flat();
      for (const u of uploads) {
        const started = Date.parse(u.initiated);
        if (Number.isFinite(started) && started < limit && ours.some((re) => re.test(u.key))) {
          await dest.abort(u.key, u.uploadId);
          deps.log.info({ key: u.key, initiated: u.initiated, ...(run.destinations.length > 1 ? { destination: dest.kind } : {}) }, 'stale upload aborted');
        }
      }
    } catch (err) {
      deps.log.warn({ err: errInfo(err) }, 'stale upload clean-up failed');
    }
  }
}
