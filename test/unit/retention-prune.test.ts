// pruneBackups against an in-memory bucket: it deletes only what the manifest records, and only while the
// object at the key is still the copy recorded.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import pino from 'pino';
import { pruneBackups } from '../../src/commands/prune.js';
import type { Destination } from '../../src/destinations/destination.js';
import { manifestKey, parseManifestState, type ManifestEntry } from '../../src/cos/manifest.js';
import { parseConfig } from '../../src/config.js';
import type { CdbCosConfig } from '../../src/types.js';
import { tempDir } from '../helpers/harness.js';

const INSTANCE = 'cdb-aaaa1111';
const NOW = Date.parse('2026-11-30T12:00:00Z');

function memoryBucket(): { cos: Destination; objects: Map<string, { text: string; etag: string }>; deletes: string[]; heads: string[] } {
  const objects = new Map<string, { text: string; etag: string }>();
  const deletes: string[] = [];
  const heads: string[] = [];
  let n = 0;
  const cos = {
    probe: () => Promise.resolve(),
    listObjects: (prefix: string) =>
      Promise.resolve({ objects: [...objects].filter(([k]) => k.startsWith(prefix)).map(([key, o]) => ({ key, size: o.text.length, etag: o.etag })), pages: 1 }),
    headObject: (key: string) => {
      heads.push(key);
      const o = objects.get(key);
      return Promise.resolve(o && { size: o.text.length, etag: o.etag, crc64: undefined, meta: {} });
    },
    getObjectText: (key: string) => Promise.resolve(objects.get(key)?.text),
    putText: (key: string, text: string) => {
      objects.set(key, { text, etag: `"m${++n}"` });
      return Promise.resolve();
    },
    deleteObject: (key: string) => {
      deletes.push(key);
      objects.delete(key);
      return Promise.resolve();
    },
  } as unknown as Destination;
  return { cos, objects, deletes, heads };
}

test('prune deletes only recorded copies still in place; a key from an earlier template is checked by HEAD first', async (t) => {
  const dir = await tempDir(t, 'cdb2cos-prune-');
  const { config, errors } = parseConfig(
    `[credentials]\nsecret_id = AKIDexample\nsecret_key = sk\n[cdb]\nregion = ap-shanghai\ninstances = ${INSTANCE}\n` +
      `[cos]\nregion = ap-guangzhou\nbucket = backup-1250000000\nprefix = new/\n[transfer]\nstaging_dir = ${join(dir, 'staging')}\n` +
      `[retention]\ndata_days = 10\nkeep_data_min = 1\n`,
    { path: join(dir, 'c.ini'), env: {} },
  );
  assert.ok(config, errors.join('; '));
  const { cos, objects, deletes, heads } = memoryBucket();
  const old = new Date(NOW - 50 * 86_400_000).toISOString();
  const entry = (key: string, etag: string, time: string): [string, ManifestEntry] => [key, { size: 4, etag, crc64: '1', id: key, copiedAt: time, type: 'data', time }];
  const put = (key: string, etag: string): void => void objects.set(key, { text: 'abcd', etag });
  // Recorded and in place: goes. Recorded but replaced by another object: stays. Recorded under an
  // earlier cos.prefix (outside this listing): goes after a HEAD. Not recorded at all: stays.
  put(`new/${INSTANCE}/data/2026-10-01/a.xb`, '"a"');
  put(`new/${INSTANCE}/data/2026-10-02/b.xb`, '"other"');
  put(`old/${INSTANCE}/data/2026-10-03/c.xb`, '"c"');
  put(`new/${INSTANCE}/data/2020-01-01/foreign.xb`, '"f"');
  put(`new/${INSTANCE}/data/2026-11-29/newest.xb`, '"n"');
  const entries = Object.fromEntries([
    entry(`new/${INSTANCE}/data/2026-10-01/a.xb`, '"a"', old),
    entry(`new/${INSTANCE}/data/2026-10-02/b.xb`, '"b"', old),
    entry(`old/${INSTANCE}/data/2026-10-03/c.xb`, '"c"', old),
    entry(`new/${INSTANCE}/data/2026-11-29/newest.xb`, '"n"', new Date(NOW - 86_400_000).toISOString()),
  ]);
  objects.set(manifestKey('new/', INSTANCE), { text: JSON.stringify({ version: 1, instance: INSTANCE, objects: entries }), etag: '"m0"' });

  const lines: string[] = [];
  const summary = await pruneBackups(config as CdbCosConfig, { dryRun: false }, {
    cos,
    log: pino({ level: 'silent' }),
    report: { item: (l) => lines.push(l), summary: (l) => lines.push(l), warn: (l) => lines.push(l) },
    now: () => NOW,
    sleep: () => Promise.resolve(),
    random: () => 0.5,
    signal: new AbortController().signal,
  });
  assert.deepEqual(deletes.sort(), [`new/${INSTANCE}/data/2026-10-01/a.xb`, `old/${INSTANCE}/data/2026-10-03/c.xb`]);
  assert.deepEqual(heads, [`old/${INSTANCE}/data/2026-10-03/c.xb`], 'only the key outside the listing gets a HEAD');
  assert.equal(summary.kept['changed'], 1);
  assert.equal(summary.worst, 'none');
  assert.ok(objects.has(`new/${INSTANCE}/data/2020-01-01/foreign.xb`), 'an object the manifest does not record stays');
  assert.ok(objects.has(`new/${INSTANCE}/data/2026-10-02/b.xb`), 'an object that is not the recorded copy stays');
  const state = parseManifestState(objects.get(manifestKey('new/', INSTANCE))!.text)!;
  assert.deepEqual([...state.entries.keys()].sort(), [`new/${INSTANCE}/data/2026-10-02/b.xb`, `new/${INSTANCE}/data/2026-11-29/newest.xb`]);
  assert.deepEqual([...state.tombs.keys()].sort(), [`new/${INSTANCE}/data/2026-10-01/a.xb`, `old/${INSTANCE}/data/2026-10-03/c.xb`]);
  for (const tomb of state.tombs.values()) assert.equal(tomb.deletedAt, new Date(NOW).toISOString());
});

test('a rerun finishes the deletions an interrupted prune began: present → deleted, absent → only marked, replaced → left alone', async (t) => {
  const dir = await tempDir(t, 'cdb2cos-prune-');
  const { config } = parseConfig(
    `[credentials]\nsecret_id = AKIDexample\nsecret_key = sk\n[cdb]\nregion = ap-shanghai\ninstances = ${INSTANCE}\n` +
      `[cos]\nregion = ap-guangzhou\nbucket = backup-1250000000\n[transfer]\nstaging_dir = ${join(dir, 'staging')}\n[retention]\n`,
    { path: join(dir, 'c.ini'), env: {} },
  );
  assert.ok(config);
  const { cos, objects, deletes } = memoryBucket();
  const k = (n: string): string => `${INSTANCE}/binlog/2026-10-01/${n}`;
  objects.set(k('present'), { text: 'abcd', etag: '"p"' });
  objects.set(k('replaced'), { text: 'abcd', etag: '"new"' });
  const tomb = (etag: string) => ({ copiedAt: '2026-10-01T00:00:00Z', size: 4, etag, reason: 'binlog-age', markedAt: '2026-11-01T00:00:00Z' });
  const deleted = { [k('present')]: tomb('"p"'), [k('absent')]: tomb('"a"'), [k('replaced')]: tomb('"old"') };
  objects.set(manifestKey('', INSTANCE), { text: JSON.stringify({ version: 1, instance: INSTANCE, objects: {}, deleted }), etag: '"m0"' });
  const summary = await pruneBackups(config as CdbCosConfig, { dryRun: false }, {
    cos,
    log: pino({ level: 'silent' }),
    report: { item: () => undefined, summary: () => undefined, warn: () => undefined },
    now: () => NOW,
    sleep: () => Promise.resolve(),
    random: () => 0.5,
    signal: new AbortController().signal,
  });
  assert.deepEqual(deletes, [k('present')]);
  assert.deepEqual(summary.deleted.map((d) => d.key).sort(), [k('absent'), k('present')]);
  assert.ok(objects.has(k('replaced')), 'an object that is not the recorded copy stays');
  const state = parseManifestState(objects.get(manifestKey('', INSTANCE))!.text)!;
  for (const key of [k('present'), k('absent'), k('replaced')]) assert.ok(state.tombs.get(key)?.deletedAt, `${key} is marked deleted`);
});
