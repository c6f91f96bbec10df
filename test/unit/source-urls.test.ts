import { test } from 'node:test';
import assert from 'node:assert/strict';
import { posix } from 'node:path';
import { parseConfig } from '../../src/config/read.js';
import { Cdb2cosError } from '../../src/errors.js';
import { keyRefusal, renderKey } from '../../src/plan.js';
import { EXPLICIT_KEY_TEMPLATE } from '../../src/sources/urls/index.js';
import { parseUrlList, type UrlLine } from '../../src/sources/urls/list-file.js';
import { stagedPaths } from '../../src/transfer/staging.js';
import type { CatalogItem } from '../../src/types.js';

const FILE = '/etc/cdb2cos/urls.txt';

function refusal(text: string): string {
  try {
    parseUrlList(text, FILE);
  } catch (err) {
    assert.ok(err instanceof Cdb2cosError);
    assert.equal(err.code, 'ERR_CONFIG');
    assert.ok(!err.message.includes('\n'), 'one line');
    return err.message;
  }
  assert.fail(`accepted: ${JSON.stringify(text)}`);
}

test('reads URL [KEY] lines, skipping blank lines and # comments', () => {
  const lines = parseUrlList(
    [
      '# nightly dumps',
      '',
      '   https://files.example.com/dumps/2026/db%20one.sql.gz?sign=s3cret&t=1  ',
      '\t# indented comment',
      'http://127.0.0.1:8080/a/b.tar   mirror/b.tar',
      '',
    ].join('\r\n'),
    FILE,
  );
  assert.equal(lines.length, 2);
  assert.deepEqual(lines[0], {
    line: 3,
    url: 'https://files.example.com/dumps/2026/db%20one.sql.gz?sign=s3cret&t=1',
    id: 'https://files.example.com/dumps/2026/db%20one.sql.gz',
    host: 'files.example.com',
    path: 'dumps/2026/db one.sql.gz',
    name: 'db one.sql.gz',
    key: undefined,
  } satisfies UrlLine);
  assert.equal(lines[1]?.line, 5);
  assert.equal(lines[1]?.host, '127.0.0.1');
  assert.equal(lines[1]?.key, 'mirror/b.tar');
  assert.equal(lines[1]?.name, 'b.tar');
});

test('a malformed line fails the list with the file and its line number, never the signature', () => {
  assert.equal(refusal('# ok\nftp://h/a.sql'), `${FILE} line 2: "ftp://h/a.sql" is not an http:// or https:// URL`);
  assert.match(refusal('\n\nnot a url'), /line 3: expected "URL \[KEY\]"/);
  assert.match(refusal('notaurl'), /line 1: "notaurl" is not a URL/);
  assert.match(refusal('https://h/a b c'), /line 1: expected "URL \[KEY\]"/);
  assert.match(refusal('https://h/'), /line 1: https:\/\/h\/ names no file \(its path is empty\); give the line a KEY/);
  assert.match(refusal('https://h/dir/'), /line 1: the URL path of https:\/\/h\/dir\/ has an empty segment/);
  assert.match(refusal('https://h//a.sql'), /empty segment/);
  assert.match(refusal('https://h/a%2F..%2Fb.sql?sign=s3cret'), /a segment holding "\/"/);
  assert.match(refusal('https://h/a%ZZ.sql'), /malformed %-escape/);
  assert.match(refusal('https://h/a%00.sql'), /control character/);
  assert.match(refusal('https://h/a%5C.sql'), /holding "\\"/);
  assert.match(refusal('https://user:pw@h/a.sql'), /user name or password/);
  assert.ok(!refusal('https://user:pw@h/a.sql').includes('pw'));
  const m = refusal('https://h/ok.sql\nhttps://h/x.sql?sign=s3cret /abs/key');
  assert.match(m, /line 2: KEY "\/abs\/key" starts with "\/"/);
  for (const bad of ['a/../b', '..', 'a//b', 'a/', './a', 'a\\b', 'a/\u0007b']) {
    assert.match(refusal(`https://h/x.sql ${bad}`), /line 1: KEY .* (has|starts)/, bad);
  }
  assert.match(refusal(`https://h/x.sql ${'k'.repeat(900)}`), /over 850/);
  assert.ok(!refusal('https://h/a.sql?sign=s3cret\nftp://h/b?sign=s3cret').includes('s3cret'));
});

test('duplicate KEYs and the same URL twice are refused', () => {
  assert.match(refusal('https://h/a.sql k/x\nhttps://h/b.sql k/x'), /line 2: KEY "k\/x" is also the KEY of line 1/);
  assert.match(refusal('https://h/a.sql?sign=1\n# c\nhttps://h/a.sql?sign=2'), /line 3: https:\/\/h\/a.sql is also on line 1/);
});

test('a line with a KEY may name a URL whose path could not be a key', () => {
  const [l] = parseUrlList('https://h/download?file=x KEYS/x.sql', FILE);
  assert.equal(l?.key, 'KEYS/x.sql');
  assert.equal(l?.name, 'download');
  const [r] = parseUrlList('https://h/ root.sql', FILE);
  assert.equal(r?.name, 'root.sql');
  assert.equal(r?.path, '');
  const [s] = parseUrlList('https://h/a%2Fb x/y.sql', FILE);
  assert.equal(s?.name, 'y.sql', 'a name the URL cannot give comes from the KEY');
});

const BASE_CONFIG = `[cdb]\nregion = ap-shanghai\ninstances = cdb-aaaa1111\n[cos]\nregion = ap-guangzhou\nbucket = b-1250000000\n`;
const parse = (extra: string) => parseConfig(BASE_CONFIG + extra, { path: '/etc/cdb2cos/cdb2cos.ini', env: {} });

test('[urls]: file resolves against the config folder, key has a default', () => {
  const r = parse('[urls]\nfile = lists/urls.txt\n');
  assert.deepEqual(r.errors, []);
  assert.deepEqual(r.config?.urls, { file: '/etc/cdb2cos/lists/urls.txt', key: '{prefix}urls/{host}/{path}' });
  assert.equal(r.config?.local, undefined);
  assert.equal(parse('').config?.urls, undefined);
  assert.deepEqual(parse('[urls]\nkey = {prefix}{host}/{path}\n').errors, ['urls.file: required, e.g. urls.txt']);
});

test('a key template using a placeholder its source lacks is one error naming the key and the placeholder', () => {
  assert.deepEqual(parse('[urls]\nfile = u.txt\nkey = {prefix}{hostname}/{path}\n').errors, [
    'urls.key: {hostname} is not a placeholder of [urls] items (they have {prefix} {instance} {type} {date} {name} {host} {path})',
  ]);
  assert.deepEqual(parse('[local]\npaths = /d/*.sql\nkey = {prefix}{host}/{path}\n').errors, [
    'local.key: {host} is not a placeholder of [local] items (they have {prefix} {instance} {type} {date} {name} {hostname} {path})',
  ]);
  assert.match(parse('[urls]\nfile = u.txt\nkey = {prefix}{id}\n').errors[0] ?? '', /^urls.key: \{id\} is not a placeholder/);
  assert.match(parse('[urls]\nfile = u.txt\nkey = {prefix}{name}\n').errors[0] ?? '', /^urls.key: must contain \{path\}/);
  assert.match(parse('[local]\npaths = /d/*.sql\nkey = /{path}\n').errors[0] ?? '', /^local.key: must not start with "\/"/);
  assert.match(parse('[local]\npaths = /d/*.sql\nkey = {path}}\n').errors[0] ?? '', /^local.key: holds a "\{" or "\}"/);
});

test('[local]: globs split at commas outside braces, resolve against the config folder; min_age defaults to 10m', () => {
  const r = parse('[local]\npaths = /data/backup/**/*.{xb,xbstream}, dumps/*.sql.gz ,/data/backup/**/*.{xb,xbstream}\n');
  assert.deepEqual(r.errors, []);
  assert.deepEqual(r.config?.local, { paths: ['/data/backup/**/*.{xb,xbstream}', '/etc/cdb2cos/dumps/*.sql.gz'], minAgeMs: 600_000, key: '{prefix}local/{hostname}/{path}' });
  assert.equal(parse('[local]\npaths = /d/*\nmin_age = 0\n').config?.local?.minAgeMs, 0);
  assert.equal(parseConfig(BASE_CONFIG + '[local]\npaths = ~/d/*.sql\n', { path: '/etc/c.ini', env: { HOME: '/home/u' } }).config?.local?.paths[0], '/home/u/d/*.sql');
  for (const [paths, why] of [
    ['/data/*/../etc/*', /holds a "\.\." segment/],
    ['/data/a**b', /\*\* must be a whole segment/],
    ['/data/{a,{b,c}}', /nested braces/],
    ['/data/{a,b', /without its "\}"/],
    ['/data/**', /names no files/],
    ['/data/*.sql, , /x/*', /holds an empty glob/],
    ['/data/x/', /names no files/],
  ] as const) {
    assert.match(parse(`[local]\npaths = ${paths}\n`).errors[0] ?? '', why, paths);
  }
});

test('[urls] and [local] keys in one folder are warned about', () => {
  const r = parse('[urls]\nfile = u.txt\nkey = {prefix}{path}\n[local]\npaths = /d/*.sql\nkey = {prefix}{hostname}/{path}\n');
  assert.ok(r.config?.warnings.some((w) => w.startsWith('urls.key and local.key: both put their items under "{prefix}"')));
  assert.deepEqual(parse('[urls]\nfile = u.txt\n[local]\npaths = /d/*.sql\n').config?.warnings, []);
});

/** A small seeded PRNG (mulberry32): the property test is the same on every run. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const NASTY = ['..', '.', '%2e%2e', '%2E.', '.%2e', '%2F', '..%2F..', '%5C', '\\', '%00', '%0a', '', 'a', 'b.sql', 'é', '%C3%A9', '~', '%', '%25', 'a..b', '...', ' ', '%20', '?', '#', ':', '//'];

/** What the urls source makes of a line (src/sources/urls/index.ts), before any probe. */
function itemOf(l: UrlLine): CatalogItem {
  return { source: 'urls', instance: 'urls', type: 'url', name: l.name, id: l.id, size: 1, date: '', time: NaN, status: 'SUCCESS', cosStorageType: 0, md5: undefined, url: l.url, fields: { host: l.host, path: l.key ?? l.path } };
}

test('no URL path or KEY, however encoded, gives a key outside the prefix or a staging path outside staging (property)', () => {
  const rand = prng(10);
  const pick = () => NASTY[Math.floor(rand() * NASTY.length)]!;
  const prefix = 'backups/';
  const staging = '/var/lib/cdb2cos/staging';
  let accepted = 0;
  for (let n = 0; n < 4000; n++) {
    const segs = Array.from({ length: 1 + Math.floor(rand() * 4) }, pick);
    const withKey = rand() < 0.3;
    const key = withKey ? (rand() < 0.2 ? '/' : '') + Array.from({ length: 1 + Math.floor(rand() * 3) }, pick).join('/') : '';
    const line = `http://h.example/${rand() < 0.2 ? '/' : ''}${segs.join('/')}${withKey ? ` ${key}` : ''}`;
    let lines: UrlLine[];
    try {
      lines = parseUrlList(line, FILE);
    } catch (err) {
      assert.ok(err instanceof Cdb2cosError && err.code === 'ERR_CONFIG', line);
      continue;
    }
    for (const l of lines) {
      accepted++;
      const item = itemOf(l);
      const template = l.key !== undefined ? EXPLICIT_KEY_TEMPLATE : '{prefix}urls/{host}/{path}';
      // The id (the URL) is not a key placeholder of [urls]; keyRefusal still holds it to one segment
      // (see the report: the port should skip it for these sources), so it is left out here.
      const keyed = { ...item, id: 'id' };
      assert.equal(keyRefusal(keyed), undefined, line);
      const k = renderKey(template, prefix, keyed);
      assert.ok(k.startsWith(prefix), `${line} → ${k}`);
      assert.equal(posix.normalize(k), k, `${line} → ${k}`);
      for (const seg of k.split('/')) assert.ok(seg !== '' && seg !== '.' && seg !== '..' && !seg.includes('\\'), `${line} → ${k}`);
      const { data } = stagedPaths(staging, item);
      assert.ok(data.startsWith(`${staging}/`) && posix.normalize(data) === data && !data.slice(staging.length).split('/').includes('..'), `${line} → ${data}`);
    }
  }
  assert.ok(accepted > 300, `enough accepted lines to mean something (${accepted})`);
});
