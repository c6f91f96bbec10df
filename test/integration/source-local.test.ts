// The [local] source on a real folder tree: globs, the fixed base, min_age, symlinks inside and
// outside the base, two globs matching one file; and hashFileSpan catching a file changed while read.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, renameSync } from 'node:fs';
import { mkdir, readFile, realpath, stat, symlink, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pino } from 'pino';
import { Cdb2cosError } from '../../src/errors.js';
import { crc64ToString, newCrc64 } from '../../src/hash/crc64.js';
import { keyRefusal, renderKey } from '../../src/plan.js';
import { availabilityOf } from '../../src/sources/source.js';
import { createLocalSource } from '../../src/sources/local/index.js';
import { hashFileSpan, openConfined, parseFileValidator } from '../../src/transfer/file-span.js';
import type { CatalogItem } from '../../src/types.js';
import { tempDir } from '../helpers/harness.js';

const HOUR = 3600_000;
const NOW = Date.parse('2026-11-30T12:00:00Z');

async function put(path: string, text: string, mtime = NOW - HOUR): Promise<void> {
  await mkdir(join(path, '..'), { recursive: true });
  await writeFile(path, text);
  await utimes(path, mtime / 1000, mtime / 1000);
}

/** A log that keeps its warnings. */
function recordingLog(): { log: pino.Logger; warnings: Array<Record<string, unknown>> } {
  const warnings: Array<Record<string, unknown>> = [];
  const log = pino({ level: 'warn' }, { write: (line: string) => void warnings.push(JSON.parse(line) as Record<string, unknown>) });
  return { log, warnings };
}

async function listLocal(paths: string[], opts: { minAgeMs?: number; log?: pino.Logger } = {}): Promise<CatalogItem[]> {
  const source = createLocalSource({ paths, minAgeMs: opts.minAgeMs ?? 10 * 60_000, key: '{prefix}local/{hostname}/{path}' }, { now: () => NOW, hostname: 'db-host-1', log: opts.log });
  assert.deepEqual(await source.units(), ['local']);
  const [listing, ...rest] = await source.list('local');
  assert.equal(rest.length, 0);
  assert.ok(listing && 'items' in listing, JSON.stringify(listing));
  assert.equal(listing.type, 'file');
  return listing.items;
}

test('lists nested ** matches relative to the fixed base, with size, mtime, validator and real paths', async (t) => {
  const root = await realpath(await tempDir(t));
  await put(join(root, 'backup/2026/11/full.xb'), 'full backup');
  await put(join(root, 'backup/2026/11/inc/inc1.xb'), 'inc 1');
  await put(join(root, 'backup/top.xb'), 'top');
  await put(join(root, 'backup/notes.txt'), 'not matched');
  await put(join(root, 'backup/.partial.xb'), 'hidden: not matched');
  await put(join(root, 'backup/.hidden/x.xb'), 'in a hidden folder: not matched by **');
  await put(join(root, 'dumps/a.sql.gz'), 'dump a');
  await put(join(root, 'dumps/sub/b.sql.gz'), '* does not descend');
  const items = await listLocal([join(root, 'backup/**/*.xb'), join(root, 'dumps/*.sql.gz')]);
  assert.deepEqual(items.map((i) => [i.id, i.base]), [
    ['2026/11/full.xb', join(root, 'backup')],
    ['2026/11/inc/inc1.xb', join(root, 'backup')],
    ['top.xb', join(root, 'backup')],
    ['a.sql.gz', join(root, 'dumps')],
  ]);
  const full = items[0]!;
  const st = await stat(join(root, 'backup/2026/11/full.xb'));
  assert.deepEqual(full, {
    source: 'local',
    instance: 'local',
    type: 'file',
    name: 'full.xb',
    id: '2026/11/full.xb',
    size: 11,
    date: '2026-11-30 19:00:00',
    time: NOW - HOUR,
    status: 'SUCCESS',
    cosStorageType: 0,
    md5: undefined,
    url: '',
    fields: { hostname: 'db-host-1', path: '2026/11/full.xb' },
    validator: `11:${st.mtimeMs}`,
    path: join(root, 'backup/2026/11/full.xb'),
    base: join(root, 'backup'),
  } satisfies CatalogItem);
  assert.deepEqual(parseFileValidator(full.validator), { size: 11, mtimeMs: st.mtimeMs }, 'what the copy checks the file against');
  assert.equal(parseFileValidator('"etag"'), undefined);
  assert.equal(renderKey('{prefix}local/{hostname}/{path}', 'p/', { ...full, id: full.name }), 'p/local/db-host-1/2026/11/full.xb');
  const source = createLocalSource({ paths: [], minAgeMs: 0, key: '{prefix}{hostname}/{path}' }, { now: () => NOW, hostname: 'h' });
  assert.deepEqual(source.access(full), { kind: 'file', path: full.path, base: full.base });
  assert.equal(source.keyTemplate(full), '{prefix}{hostname}/{path}');
  assert.deepEqual(source.placeholders, ['prefix', 'instance', 'type', 'date', 'name', 'hostname', 'path']);
  await assert.rejects(source.list('urls'), /no unit "urls"/);
});

test('a file modified within min_age is waiting; {a,b} and ? match; a plain path is one file', async (t) => {
  const root = await realpath(await tempDir(t));
  await put(join(root, 'a/x.sql'), 'old');
  await put(join(root, 'b/y.sql'), 'being written', NOW - 60_000);
  await put(join(root, 'c/z.sql'), 'not in {a,b}');
  await put(join(root, 'logs/binlog.000001'), 'b1');
  await put(join(root, 'logs/binlog.000010'), 'b10: ? is one character');
  const items = await listLocal([join(root, '{a,b}/*.sql'), join(root, 'logs/binlog.00000?'), join(root, 'c/z.sql')]);
  assert.deepEqual(items.map((i) => [i.id, i.status]), [
    ['a/x.sql', 'SUCCESS'],
    ['b/y.sql', 'RUNNING'],
    ['binlog.000001', 'SUCCESS'],
    ['z.sql', 'SUCCESS'],
  ]);
  assert.equal(availabilityOf(items[1]!), 'waiting');
  assert.equal((await listLocal([join(root, 'b/*.sql')], { minAgeMs: 0 }))[0]?.status, 'SUCCESS');
});

test('symlinks are followed inside the base and skipped, with a warning, when they lead outside', async (t) => {
  const root = await realpath(await tempDir(t));
  await put(join(root, 'base/real/a.xb'), 'inside');
  await put(join(root, 'secret/passwd.xb'), 'outside the base');
  await put(join(root, 'base-sibling/s.xb'), 'a sibling sharing the prefix');
  await symlink(join(root, 'base/real/a.xb'), join(root, 'base/link-a.xb'));
  await symlink('real', join(root, 'base/linkdir'));
  await symlink(join(root, 'secret/passwd.xb'), join(root, 'base/escape.xb'));
  await symlink(join(root, 'secret'), join(root, 'base/escapedir'));
  await symlink('../base-sibling/s.xb', join(root, 'base/sibling.xb'));
  await symlink('..', join(root, 'base/real/up')); // a loop inside the base
  await symlink(join(root, 'nowhere'), join(root, 'base/dangling.xb'));
  const { log, warnings } = recordingLog();
  const items = await listLocal([join(root, 'base/**/*.xb')], { log });
  // a.xb is found three ways (real/, link-a.xb, linkdir/): once, under the first path in order.
  assert.deepEqual(items.map((i) => [i.id, i.path]), [['link-a.xb', join(root, 'base/real/a.xb')]]);
  assert.ok(items.every((i) => !i.path!.includes('secret') && !i.path!.includes('sibling')));
  const skipped = warnings.filter((w) => w['msg'] === 'symlink skipped').map((w) => w['path']);
  assert.deepEqual(skipped.sort(), [join(root, 'base/escape.xb'), join(root, 'base/escapedir'), join(root, 'base/sibling.xb')].sort());
});

test('two globs matching one file give it once; two files at one path below different bases fail alone', async (t) => {
  const root = await realpath(await tempDir(t));
  await put(join(root, 'x/a.sql'), 'x');
  await put(join(root, 'y/a.sql'), 'y');
  await put(join(root, 'y/b.sql'), 'y b');
  const items = await listLocal([join(root, 'x/*.sql'), join(root, 'x/a.*'), join(root, 'y/*.sql')]);
  assert.deepEqual(items.map((i) => [i.path, i.status]), [
    [join(root, 'x/a.sql'), 'SUCCESS'],
    [join(root, 'y/a.sql'), 'FAILED'],
    [join(root, 'y/b.sql'), 'SUCCESS'],
  ]);
  assert.match(items[1]?.failure ?? '', /are both "a\.sql" below their globs' bases/);
});

test('a missing base lists nothing and warns; a name that cannot be a key is refused by the plan', async (t) => {
  const root = await realpath(await tempDir(t));
  await put(join(root, 'd/back\\slash.sql'), 'x');
  const { log, warnings } = recordingLog();
  const items = await listLocal([join(root, 'absent/*.sql'), join(root, 'd/*.sql')], { log });
  assert.equal(warnings[0]?.['msg'], 'glob base missing');
  assert.equal(items.length, 1);
  assert.match(keyRefusal({ ...items[0]!, id: 'x' }) ?? '', /holds "\\"/);
});

const crcOf = (b: Buffer): string => {
  const c = newCrc64();
  c.update(b);
  return crc64ToString(c.digest());
};

test('hashFileSpan hashes a span in place with a reused buffer', async (t) => {
  const root = await realpath(await tempDir(t));
  const path = join(root, 'f.bin');
  const body = Buffer.from(Array.from({ length: 300_000 }, (_, i) => i % 251));
  await put(path, body.toString('latin1'));
  const st = await stat(path);
  const bytes = await readFile(path);
  const buffer = Buffer.alloc(4096);
  let progress = 0;
  const r = await hashFileSpan({ path, base: root, start: 1000, end: 250_000, expectSize: st.size, expectMtimeMs: st.mtimeMs, md5: true, buffer, onProgress: (n) => (progress += n) });
  assert.equal(crc64ToString(r.crc64), crcOf(bytes.subarray(1000, 250_000)));
  assert.equal(r.md5, (await import('node:crypto')).createHash('md5').update(bytes.subarray(1000, 250_000)).digest('hex'));
  assert.equal(progress, 249_000);
  const whole = await hashFileSpan({ path, base: root, start: 0, end: st.size, expectSize: st.size, expectMtimeMs: st.mtimeMs });
  assert.equal(crc64ToString(whole.crc64), crcOf(bytes));
  assert.equal(whole.md5, undefined);
});

test('hashFileSpan fails with ERR_SOURCE_CHANGED when the file is modified during the read, or was since listing', async (t) => {
  const root = await realpath(await tempDir(t));
  const path = join(root, 'growing.bin');
  await put(path, 'x'.repeat(2 * 1024 * 1024));
  const st = await stat(path);
  const listed = { path, base: root, start: 0, end: st.size, expectSize: st.size, expectMtimeMs: st.mtimeMs };
  // Written to while being read: the first progress callback appends to it (synchronously: no race).
  let appended = false;
  const err = await hashFileSpan({
    ...listed,
    buffer: Buffer.alloc(64 * 1024),
    onProgress: () => {
      if (appended) return;
      appended = true;
      appendFileSync(path, 'more');
    },
  }).catch((e: unknown) => e);
  assert.ok(err instanceof Cdb2cosError, String(err));
  assert.equal(err.code, 'ERR_SOURCE_CHANGED');
  assert.match(err.message, new RegExp(`^${path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} changed while it was copied: its size is ${st.size + 4} bytes after reading, ${st.size} when listed`));

  // Changed between listing and copy: mtime only.
  const path2 = join(root, 'touched.bin');
  await put(path2, 'same size');
  const st2 = await stat(path2);
  await utimes(path2, NOW / 1000, NOW / 1000);
  await assert.rejects(hashFileSpan({ path: path2, base: root, start: 0, end: st2.size, expectSize: st2.size, expectMtimeMs: st2.mtimeMs }), (e: unknown) => e instanceof Cdb2cosError && e.code === 'ERR_SOURCE_CHANGED' && /its mtime is .* before reading/.test(e.message));

  // Replaced by a rename (same size and mtime): the path now names another file.
  const path3 = join(root, 'replaced.bin');
  await put(path3, 'version 1');
  const st3 = await stat(path3);
  await put(join(root, 'new.tmp'), 'version 2', st3.mtimeMs);
  let renamed = false;
  const err3 = await hashFileSpan({
    path: path3, base: root, start: 0, end: st3.size, expectSize: st3.size, expectMtimeMs: st3.mtimeMs, buffer: Buffer.alloc(2),
    onProgress: () => {
      if (!renamed) {
        renamed = true;
        renameSync(join(root, 'new.tmp'), path3);
      }
    },
  }).catch((e: unknown) => e);
  assert.ok(err3 instanceof Cdb2cosError && err3.code === 'ERR_SOURCE_CHANGED', String(err3));

  await assert.rejects(hashFileSpan({ ...listed, path: join(root, 'gone.bin') }), /gone\.bin changed while it was copied: it is gone/);
});

test('openConfined refuses a symlink, a path whose real path moved, and anything outside the base', async (t) => {
  const root = await realpath(await tempDir(t));
  await put(join(root, 'base/a.bin'), 'a');
  await put(join(root, 'outside.bin'), 'o');
  await symlink(join(root, 'outside.bin'), join(root, 'base/link.bin'));
  await mkdir(join(root, 'base/sub'));
  await put(join(root, 'elsewhere/b.bin'), 'b');
  const base = join(root, 'base');
  const ok = await openConfined(join(base, 'a.bin'), base);
  await ok.close();
  await assert.rejects(openConfined(join(base, 'link.bin'), base), (e: unknown) => e instanceof Cdb2cosError && e.code === 'ERR_SOURCE_CHANGED' && /now a symlink/.test(e.message));
  await assert.rejects(openConfined(join(root, 'outside.bin'), base), (e: unknown) => e instanceof Cdb2cosError && e.code === 'ERR_PERMISSION' && /outside/.test(e.message));
  // A folder swapped for a symlink after listing: the real path is no longer the path listed.
  await symlink(join(root, 'elsewhere'), join(base, 'swapped'));
  await assert.rejects(openConfined(join(base, 'swapped/b.bin'), base), /its real path is now/);
});
