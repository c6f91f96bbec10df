import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseGlob, splitGlobs, type Glob } from '../../src/sources/local/glob.js';
import { isInside } from '../../src/sources/local/index.js';

const glob = (text: string, folder = '/etc/cdb2cos'): Glob => {
  const g = parseGlob(text, folder);
  assert.ok(!('problem' in g), JSON.stringify(g));
  return g;
};
const names = (g: Glob, i: number, xs: string[]): string[] => {
  const seg = g.segments[i];
  assert.ok(seg?.kind === 'name');
  return xs.filter((x) => seg.re.test(x));
};

test('the fixed base is the folder before the first segment with a glob character', () => {
  assert.equal(glob('/data/backup/**/*.xb').base, '/data/backup');
  assert.deepEqual(glob('/data/backup/**/*.xb').segments.map((s) => s.kind), ['globstar', 'name']);
  assert.equal(glob('/data/mysqldump/*.sql.gz').base, '/data/mysqldump');
  assert.equal(glob('/data/{a,b}/x.sql').base, '/data');
  assert.equal(glob('/data/d?y/x.sql').base, '/data');
  assert.equal(glob('/data/exact.sql').base, '/data', 'a plain path: its folder');
  assert.equal(glob('/*.sql').base, '/');
  assert.equal(glob('dumps/*.sql').base, '/etc/cdb2cos/dumps', 'relative to the config folder');
  assert.equal(glob('dumps/*.sql').pattern, '/etc/cdb2cos/dumps/*.sql');
  assert.deepEqual(glob('/d/**/**/x/**/*.sql').segments.map((s) => s.kind), ['globstar', 'name', 'globstar', 'name'], '** twice in a row is one');
  const literal = glob('/d/*/exact.sql').segments[1];
  assert.ok(literal?.kind === 'name' && literal.literal === 'exact.sql');
});

test('*, ? and {a,b} match within one name; hidden names only when the pattern starts with a dot', () => {
  const g = glob('/d/*.{xb,xbstream}');
  assert.deepEqual(names(g, 0, ['a.xb', 'b.xbstream', 'c.xbx', '.hidden.xb', 'dir/a.xb', 'a.xb.tmp', '.xb']), ['a.xb', 'b.xbstream']);
  assert.deepEqual(names(glob('/d/binlog.00000?'), 0, ['binlog.000001', 'binlog.0000012', 'binlog.00000', 'binlog.00000.']), ['binlog.000001', 'binlog.00000.']);
  assert.deepEqual(names(glob('/d/.*.sql'), 0, ['.a.sql', 'a.sql']), ['.a.sql']);
  assert.deepEqual(names(glob('/d/a+b(1)[x]$.sql'), 0, ['a+b(1)[x]$.sql', 'aab(1)x$.sql']), ['a+b(1)[x]$.sql'], 'regex characters are literal');
});

test('refuses globs that could climb out of their base or that it cannot read', () => {
  for (const [text, why] of [
    ['', /empty/],
    ['/data/../etc/*', /"\.\." segment/],
    ['/data/**/..', /"\.\." segment/],
    ['/data/x**', /whole segment/],
    ['/data/{a,{b}}', /nested/],
    ['/data/a}', /without its "\{"/],
    ['/data/{a/b}/*', /without its/],
    ['/data/**', /names no files/],
    ['/data/a\u0001/*', /control character/],
  ] as const) {
    const g = parseGlob(text, '/');
    assert.ok('problem' in g, text);
    assert.match(g.problem, why, text);
  }
});

test('globs split at commas outside braces', () => {
  assert.deepEqual(splitGlobs(' /a/*.{x,y} , /b/{c,d}/*.sql,/e '), ['/a/*.{x,y}', '/b/{c,d}/*.sql', '/e']);
  assert.deepEqual(splitGlobs('/a,,/b'), ['/a', '', '/b']);
});

test('inside means the base or below it, never a sibling sharing its name as a prefix', () => {
  assert.ok(isInside('/data/backup', '/data/backup'));
  assert.ok(isInside('/data/backup/x/y', '/data/backup'));
  assert.ok(!isInside('/data/backup2/x', '/data/backup'));
  assert.ok(!isInside('/data', '/data/backup'));
  assert.ok(isInside('/anything', '/'));
});
