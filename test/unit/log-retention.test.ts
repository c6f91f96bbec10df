// [log] keep_days: only this config's dated log files older than the limit go; nothing else in the folder.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { removeOldLogs, type LogDirFs } from '../../src/log.js';
import { tempDir } from '../helpers/harness.js';

test('removes dated files of this log older than keep_days, and nothing else', async (t) => {
  const dir = await tempDir(t, 'cdb2cos-logret-');
  const names = [
    '2026-11-30-cdb2cos.log', // today
    '2026-11-23-cdb2cos.log', // exactly 7 days ago: kept
    '2026-11-22-cdb2cos.log', // 8 days ago: removed
    '2025-01-01-cdb2cos.log', // removed
    '2025-01-01-other.log', // another config's log
    '2025-01-01-cdb2cos.log.gz', // not exactly the pattern
    '2025-01-01-cdb2cos.logx',
    'x2025-01-01-cdb2cos.log',
    '2025-13-45-cdb2cos.log', // not a date
    'cdb2cos.log',
    'notes.txt',
  ];
  for (const n of names) await writeFile(join(dir, n), 'x');
  await mkdir(join(dir, '2025-01-02-cdb2cos.log')); // a folder named like a log
  await writeFile(join(dir, 'target'), 'keep me');
  await symlink(join(dir, 'target'), join(dir, '2025-01-03-cdb2cos.log'));

  const now = new Date(2026, 10, 30, 9, 0, 0); // local time, as the log file names are
  const r = await removeOldLogs(dir, 'cdb2cos.log', 7, now);
  assert.deepEqual(r.removed.map((p) => p.slice(dir.length + 1)).sort(), ['2025-01-01-cdb2cos.log', '2026-11-22-cdb2cos.log']);
  assert.deepEqual(r.failed, []);
  const left = (await readdir(dir)).sort();
  assert.deepEqual(left, [...names.filter((n) => n !== '2025-01-01-cdb2cos.log' && n !== '2026-11-22-cdb2cos.log'), '2025-01-02-cdb2cos.log', '2025-01-03-cdb2cos.log', 'target'].sort());
});

test('a file name with regex characters matches only itself; failures are reported, not thrown', async () => {
  const files = new Map<string, boolean>([
    ['/logs/2020-01-01-a+b.log', true],
    ['/logs/2020-01-01-aab.log', true],
    ['/logs/2020-01-02-a+b.log', true],
  ]);
  const removed: string[] = [];
  const fs: LogDirFs = {
    readdir: () => Promise.resolve([...files.keys()].map((p) => p.slice('/logs/'.length))),
    isFile: (p) => Promise.resolve(files.get(p) === true),
    unlink: (p) => {
      if (p.includes('01-02')) return Promise.reject(Object.assign(new Error('denied'), { code: 'EACCES' }));
      removed.push(p);
      return Promise.resolve();
    },
  };
  const r = await removeOldLogs('/logs', 'a+b.log', 30, new Date(2026, 0, 1), fs);
  assert.deepEqual(removed, ['/logs/2020-01-01-a+b.log']);
  assert.deepEqual(r.failed, [{ path: '/logs/2020-01-02-a+b.log', code: 'EACCES' }]);
  const gone = await removeOldLogs('/nowhere', 'a.log', 1, new Date(), { ...fs, readdir: () => Promise.reject(Object.assign(new Error('x'), { code: 'ENOENT' })) });
  assert.deepEqual(gone, { removed: [], failed: [{ path: '/nowhere', code: 'ENOENT' }] });
});
