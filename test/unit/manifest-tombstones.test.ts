// Tombstones in the manifest: a prune's deletions survive merges with writers that still hold the old
// entries, a copy made again later wins, and a reader of the original format still reads the file.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ManifestStore } from '../../src/cos/manifest.js';
import { Manifest, manifestKey, mergeStates, parseManifest, parseManifestState, settle, TOMBSTONE_KEEP_MS, type ManifestEntry, type Tombstone } from '../../src/cos/manifest.js';

const entry = (crc64: string, copiedAt: string): ManifestEntry => ({ size: 10, etag: `"${crc64}"`, crc64, id: crc64, copiedAt });
const tomb = (copiedAt: string, deletedAt?: string): Tombstone => ({ copiedAt, size: 10, etag: '"x"', reason: 'data-age', markedAt: '2026-02-01T00:00:00Z', ...(deletedAt ? { deletedAt } : {}) });

function memoryCos(): { cos: ManifestStore; objects: Map<string, string> } {
  const objects = new Map<string, string>();
  const turn = (): Promise<void> => new Promise((r) => setImmediate(r));
  const cos = {
    async getObjectText(key: string) {
      await turn();
      return objects.get(key);
    },
    async putText(key: string, text: string) {
      await turn();
      objects.set(key, text);
    },
  } satisfies ManifestStore;
  return { cos, objects };
}
const deps = { sleep: () => new Promise<void>((r) => setImmediate(r)), random: () => 0.5 };

test('a tombstone removes the entry it names, and a copy made again later wins over it', () => {
  const s = settle({
    entries: new Map([
      ['gone', entry('1', '2026-01-01T00:00:00Z')],
      ['again', entry('2', '2026-03-01T00:00:00Z')],
    ]),
    tombs: new Map([
      ['gone', tomb('2026-01-01T00:00:00Z')],
      ['again', tomb('2026-01-01T00:00:00Z', '2026-02-01T00:00:00Z')],
    ]),
  });
  assert.deepEqual([...s.entries.keys()], ['again']);
  assert.deepEqual([...s.tombs.keys()], ['gone'], 'a tombstone older than its key\'s copy is void');
});

test('merging with a writer that still holds the old entry does not bring it back, in either order', () => {
  const pruned = { entries: new Map<string, ManifestEntry>(), tombs: new Map([['k', tomb('2026-01-01T00:00:00Z', '2026-02-01T00:00:00Z')]]) };
  const stale = { entries: new Map([['k', entry('1', '2026-01-01T00:00:00Z')], ['other', entry('2', '2026-01-05T00:00:00Z')]]), tombs: new Map<string, Tombstone>() };
  for (const m of [mergeStates(pruned, stale), mergeStates(stale, pruned)]) {
    assert.deepEqual([...m.entries.keys()], ['other']);
    assert.equal(m.tombs.get('k')?.deletedAt, '2026-02-01T00:00:00Z');
  }
  // "deleting" and "deleted" of the same copy: the deletion done wins.
  const deleting = { entries: new Map<string, ManifestEntry>(), tombs: new Map([['k', tomb('2026-01-01T00:00:00Z')]]) };
  assert.equal(mergeStates(deleting, pruned).tombs.get('k')?.deletedAt, '2026-02-01T00:00:00Z');
  assert.equal(mergeStates(pruned, deleting).tombs.get('k')?.deletedAt, '2026-02-01T00:00:00Z');
});

test('tombstones are dropped TOMBSTONE_KEEP_MS after the deletion, not before, and never while still deleting', () => {
  const deletedAt = Date.parse('2026-02-01T00:00:00Z');
  const s = { entries: new Map<string, ManifestEntry>(), tombs: new Map([['done', tomb('2026-01-01T00:00:00Z', '2026-02-01T00:00:00Z')], ['pending', tomb('2026-01-01T00:00:00Z')]]) };
  assert.deepEqual([...settle(s, deletedAt + TOMBSTONE_KEEP_MS - 1).tombs.keys()], ['done', 'pending']);
  assert.deepEqual([...settle(s, deletedAt + TOMBSTONE_KEEP_MS + 1).tombs.keys()], ['pending']);
});

test('a file with tombstones is still version 1, and a reader of objects alone sees the deletion', async () => {
  const { cos, objects } = memoryCos();
  const key = manifestKey('', 'cdb-aaaa1111');
  const { manifest } = await Manifest.load(cos, '', 'cdb-aaaa1111', deps);
  manifest.record('a', entry('1', '2026-01-01T00:00:00Z'));
  manifest.record('b', entry('2', '2026-01-01T00:00:00Z'));
  await manifest.flush();
  assert.ok(manifest.markDeleting('a', 'data-age', Date.parse('2026-02-01T00:00:00Z')));
  await manifest.flush();
  const file = JSON.parse(objects.get(key)!) as { version: number; objects: Record<string, unknown>; deleted: Record<string, Tombstone> };
  assert.equal(file.version, 1);
  assert.deepEqual(Object.keys(file.objects), ['b'], 'the original reader (objects only) no longer sees a');
  assert.equal(file.deleted['a']?.deletedAt, undefined, 'deleting, not deleted yet');
  manifest.markDeleted('a', Date.parse('2026-02-01T00:01:00Z'));
  await manifest.flush();
  assert.equal(parseManifestState(objects.get(key)!)?.tombs.get('a')?.deletedAt, '2026-02-01T00:01:00.000Z');
  assert.deepEqual([...(parseManifest(objects.get(key)!) ?? new Map()).keys()], ['b']);
});

test('a run that loaded the manifest before a prune, and flushes after it, neither resurrects the entry nor fails its flush', async () => {
  const { cos, objects } = memoryCos();
  const key = manifestKey('', 'cdb-bbbb2222');
  const { manifest: first } = await Manifest.load(cos, '', 'cdb-bbbb2222', deps);
  first.record('old', entry('1', '2026-01-01T00:00:00Z'));
  await first.flush();

  const { manifest: run } = await Manifest.load(cos, '', 'cdb-bbbb2222', deps); // holds "old"
  const { manifest: prune } = await Manifest.load(cos, '', 'cdb-bbbb2222', deps);
  prune.markDeleting('old', 'data-age', Date.parse('2026-02-01T00:00:00Z'));
  prune.markDeleted('old', Date.parse('2026-02-01T00:00:01Z'));
  await prune.flush();

  run.record('new', entry('2', '2026-02-02T00:00:00Z'));
  await run.flush();
  assert.deepEqual([...(parseManifest(objects.get(key)!) ?? new Map()).keys()], ['new']);
  assert.deepEqual([...run.known().keys()], ['new']);

  // The run records "old" itself (copied before the prune, flushed after it): the tombstone covers it.
  const { manifest: late } = await Manifest.load(cos, '', 'cdb-bbbb2222', deps);
  late.record('old', entry('1', '2026-01-01T00:00:00Z'));
  await late.flush();
  assert.equal(late.pending, false, 'a deletion by prune is not a lost update');
  assert.deepEqual([...(parseManifest(objects.get(key)!) ?? new Map()).keys()], ['new']);

  // Copied again after the prune: the new copy wins.
  late.record('old', entry('1b', '2026-03-01T00:00:00Z'));
  await late.flush();
  const back = parseManifestState(objects.get(key)!)!;
  assert.deepEqual([...back.entries.keys()].sort(), ['new', 'old']);
  assert.equal(back.tombs.size, 0);
});
