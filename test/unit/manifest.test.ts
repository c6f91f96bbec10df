// The manifest's merge: two writers of one instance's manifest keep each other's entries, whatever the
// interleaving of their read-modify-writes (against an in-memory COS whose every call takes a turn).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ManifestStore } from '../../src/cos/manifest.js';
import { holdsAll, Manifest, MANIFEST_WRITE_ATTEMPTS, manifestKey, mergeEntries, parseManifest, type ManifestEntry } from '../../src/cos/manifest.js';
import { Cdb2cosError } from '../../src/errors.js';

const entry = (crc64: string, copiedAt: string, etag = `"${crc64}"`): ManifestEntry => ({ size: 10, etag, crc64, id: crc64, copiedAt });

/** A bucket of text objects; each call yields to the event loop first, so concurrent callers interleave. */
function memoryCos(): { cos: ManifestStore; objects: Map<string, string>; puts: () => number } {
  const objects = new Map<string, string>();
  let puts = 0;
  const turn = (): Promise<void> => new Promise((r) => setImmediate(r));
  const cos = {
    async getObjectText(key: string) {
      await turn();
      return objects.get(key);
    },
    async putText(key: string, text: string) {
      await turn();
      puts++;
      objects.set(key, text);
    },
  } satisfies ManifestStore;
  return { cos, objects, puts: () => puts };
}

const deps = { sleep: () => new Promise<void>((r) => setImmediate(r)), random: () => 0.5 };

function entriesIn(objects: Map<string, string>, key: string): Map<string, ManifestEntry> {
  return parseManifest(objects.get(key) ?? '{}') ?? assert.fail('not a manifest');
}

test('mergeEntries is the union by key, and for a key in both the later copiedAt wins', () => {
  const a = new Map([
    ['k1', entry('1', '2026-01-01T00:00:00Z')],
    ['k2', entry('2', '2026-01-02T00:00:00Z')],
  ]);
  const b = new Map([
    ['k2', entry('2b', '2026-01-03T00:00:00Z')],
    ['k3', entry('3', '2026-01-01T00:00:00Z')],
  ]);
  const m = mergeEntries(a, b);
  assert.deepEqual([...m.keys()].sort(), ['k1', 'k2', 'k3']);
  assert.equal(m.get('k2')?.crc64, '2b');
  assert.equal(mergeEntries(b, a).get('k2')?.crc64, '2b', 'order does not matter');
  assert.ok(holdsAll(m, a) && holdsAll(m, b) === true);
  assert.equal(holdsAll(new Map([['k1', entry('1', '2026-01-01T00:00:00Z')]]), b), false);
  // Same time, other object: not ours.
  assert.equal(holdsAll(new Map([['k3', entry('other', '2026-01-01T00:00:00Z')]]), new Map([['k3', entry('3', '2026-01-01T00:00:00Z')]])), false);
});

test('two writers that read the manifest before either wrote it both end up in it', async () => {
  const { cos, objects } = memoryCos();
  const key = manifestKey('p/', 'cdb-aaaa1111');
  const [{ manifest: data }, { manifest: binlog }] = await Promise.all([Manifest.load(cos, 'p/', 'cdb-aaaa1111', deps), Manifest.load(cos, 'p/', 'cdb-aaaa1111', deps)]);
  data.record('d/1', entry('11', '2026-01-01T00:00:00Z'));
  data.record('d/2', entry('12', '2026-01-01T00:00:01Z'));
  binlog.record('b/1', entry('21', '2026-01-01T00:00:00Z'));
  // Read, read, write, write: the second write was based on a read that lacks the first one's entries.
  await Promise.all([data.flush(), binlog.flush()]);
  assert.deepEqual([...entriesIn(objects, key).keys()].sort(), ['b/1', 'd/1', 'd/2']);
  assert.equal(data.pending || binlog.pending, false);

  // Later flushes of either keep the other's entries too.
  binlog.record('b/2', entry('22', '2026-01-01T01:00:00Z'));
  await binlog.flush();
  assert.deepEqual([...entriesIn(objects, key).keys()].sort(), ['b/1', 'b/2', 'd/1', 'd/2']);
  const { manifest: fresh } = await Manifest.load(cos, 'p/', 'cdb-aaaa1111', deps);
  assert.deepEqual([...fresh.known().keys()].sort(), ['b/1', 'b/2', 'd/1', 'd/2']);
});

test('many writers flushing at once lose no entry', async () => {
  const { cos, objects } = memoryCos();
  const writers = await Promise.all(Array.from({ length: 5 }, () => Manifest.load(cos, '', 'cdb-bbbb2222', { sleep: deps.sleep, random: Math.random })));
  writers.forEach(({ manifest }, i) => manifest.record(`k${i}`, entry(String(i), '2026-01-01T00:00:00Z')));
  await Promise.all(writers.map(({ manifest }) => manifest.flush()));
  assert.deepEqual([...entriesIn(objects, manifestKey('', 'cdb-bbbb2222')).keys()].sort(), ['k0', 'k1', 'k2', 'k3', 'k4']);
});

test('a manifest that keeps being replaced without our entries fails after a bounded number of writes, and stays pending', async () => {
  const { cos, objects, puts } = memoryCos();
  const key = manifestKey('', 'cdb-cccc3333');
  const hostile = {
    ...cos,
    async putText(k: string, text: string) {
      await cos.putText(k, text);
      objects.set(k, JSON.stringify({ version: 1, instance: 'cdb-cccc3333', objects: {} }));
    },
  } satisfies ManifestStore;
  const { manifest } = await Manifest.load(hostile, '', 'cdb-cccc3333', deps);
  manifest.record('k', entry('1', '2026-01-01T00:00:00Z'));
  const err = await manifest.flush().then(
    () => assert.fail('the flush should fail'),
    (e: unknown) => e,
  );
  assert.ok(err instanceof Cdb2cosError && err.retryable, String(err));
  assert.equal(puts(), MANIFEST_WRITE_ATTEMPTS);
  assert.equal(manifest.pending, true, 'the entries are written again by the next flush');
  assert.ok(objects.has(key));
});

test('a manifest that is not JSON is replaced by one holding this run\'s entries', async () => {
  const { cos, objects } = memoryCos();
  const key = manifestKey('', 'cdb-dddd4444');
  objects.set(key, '{"version":1,"objects":{"torn');
  const { manifest, warning } = await Manifest.load(cos, '', 'cdb-dddd4444', deps);
  assert.match(warning ?? '', /not valid JSON/);
  manifest.record('k', entry('1', '2026-01-01T00:00:00Z'));
  await manifest.flush();
  assert.deepEqual([...entriesIn(objects, key).keys()], ['k']);
});
