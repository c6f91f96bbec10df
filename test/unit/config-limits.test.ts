// Bad input stays small: a config of megabytes of junk gives a short error (the first problems and an
// exact count of the rest), quickly, and a file far too large for a config is not read at all.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig, readConfig } from '../../src/config.js';
import { MAX_PROBLEM_CHARS, MAX_PROBLEMS } from '../../src/config/problems.js';
import { MAX_CONFIG_BYTES } from '../../src/config/read.js';
import { ConfigError } from '../../src/errors.js';

const fail = (text: string): string[] => {
  const r = parseConfig(text, { path: '/etc/cdb2cos/c.ini', env: {} });
  assert.equal(r.config, undefined);
  return r.errors;
};

const MINIMAL = `
[cdb]
region = ap-shanghai
instances = cdb-aaaa1111
[cos]
region = ap-guangzhou
bucket = backup-1250000000
`;

test('megabytes of junk lines give the first problems and the exact count of the rest', () => {
  const lines = 150_000;
  const junk = Array.from({ length: lines }, (_, i) => `junk ${i} ${'x'.repeat(i % 40)} !`).join('\n');
  assert.ok(junk.length > 4_000_000);
  const errors = fail(junk);
  assert.equal(errors.length, MAX_PROBLEMS + 1);
  assert.equal(errors[0], 'line 1: expected "[section]", "key = value" or a ; comment');
  // Every junk line is a problem, and so are the missing source and the missing destination.
  assert.equal(errors.at(-1), `… and ${lines + 2 - MAX_PROBLEMS} more problems`);
  assert.ok(errors.join('\n').length < 4000);
});

test('junk in the 2018 format and unknown keys and sections are capped the same way', () => {
  const legacy = '[cdbinfo]\n' + Array.from({ length: 50_000 }, (_, i) => `k${i}: v`).join('\n');
  assert.equal(fail(legacy).at(-1), `… and ${50_000 + 4 - MAX_PROBLEMS} more problems`);
  // [x…]: an [s…] series would name [s3], a known section.
  const sections = Array.from({ length: 50_000 }, (_, i) => `[x${i}]`).join('\n');
  assert.equal(fail(sections).at(-1), `… and ${50_000 + 2 - MAX_PROBLEMS} more problems`);
});

test('exactly the cap lists every problem; one more is counted, in the singular', () => {
  const unknown = (n: number): string => MINIMAL + '[cdb]\n' + Array.from({ length: n }, (_, i) => `zz${i} = 1`).join('\n');
  const all = fail(unknown(MAX_PROBLEMS));
  assert.equal(all.length, MAX_PROBLEMS);
  assert.ok(all.every((e) => e.endsWith('unknown key')));
  assert.equal(fail(unknown(MAX_PROBLEMS + 1)).at(-1), '… and 1 more problem');
});

test('a key or section name of a megabyte is cut short in its message', () => {
  const name = 'k'.repeat(1_000_000);
  const errors = fail(`${MINIMAL}[cdb]\n${name} = 1\n[${name}]\n`);
  assert.equal(errors.length, 2, errors.join('\n').slice(0, 2000));
  for (const e of errors) assert.ok(e.length <= MAX_PROBLEM_CHARS, `${e.length} characters`);
  assert.match(errors[1] ?? '', /^cdb\.kkk+ … k+: unknown key$/);
  assert.match(errors[0] ?? '', /^\[kkk+ … .*\[log\], \[notify\], \[metrics\], \[retention\]\)$/);
});

test('a line of blanks after "[" is read in linear time', () => {
  const start = Date.now();
  const errors = fail(MINIMAL + '[' + ' '.repeat(100_000) + 'x' + ' '.repeat(100_000) + '\n');
  assert.ok(errors.includes('line 8: expected "[section]", "key = value" or a ; comment'), errors.join('\n'));
  assert.ok(Date.now() - start < 5000, `took ${Date.now() - start} ms`);
});

test('readConfig refuses a file far too large for a config without reading it', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'cdb2cos-config-'));
  try {
    const file = join(dir, 'backup.xb');
    await writeFile(file, '');
    await truncate(file, MAX_CONFIG_BYTES + 1);
    await assert.rejects(readConfig(file, {}), (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.equal(
        err.message,
        `config file ${file} is too large: ${MAX_CONFIG_BYTES + 1} bytes; a config file is at most 8 MiB (is this the right file?)`,
      );
      return true;
    });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
