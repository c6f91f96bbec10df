// Bad input stays small: a huge junk config gives a short error on stderr (the first problems and a
// count of the rest), exit 2, never megabytes.
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { lines, runCli, tempDir } from '../helpers/harness.js';

/** 5 MB of printable junk in lines of 1–120 characters, and one line of 1 MB; the same every run. */
function junk(): string {
  let seed = 12345;
  const rnd = (): number => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  const out: string[] = [];
  let n = 0;
  while (n < 5 * 1024 * 1024) {
    const len = 1 + Math.floor(rnd() * 120);
    let l = '';
    for (let i = 0; i < len; i++) l += String.fromCharCode(33 + Math.floor(rnd() * 94));
    out.push(l);
    n += len + 1;
  }
  out.splice(1000, 0, 'x'.repeat(1024 * 1024));
  return out.join('\n') + '\n';
}

test('a 5 MB junk config: exit 2, one line of at most a few KB naming the first problems and how many more', async (t) => {
  const dir = await tempDir(t);
  const path = join(dir, 'junk.ini');
  await writeFile(path, junk());
  const r = await runCli(['run', '--config', path], { timeoutMs: 60_000 });
  assert.equal(r.code, 2, r.stderr.slice(0, 2000));
  assert.ok(Buffer.byteLength(r.stderr) < 5000, `stderr is ${Buffer.byteLength(r.stderr)} bytes`);
  const errLines = lines(r.stderr);
  assert.equal(errLines.length, 1, r.stderr.slice(0, 2000));
  assert.match(errLines[0]!, /^cdb2cos: error: .*line 1\b/);
  assert.match(errLines[0]!, /… and \d+ more$/);
  assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
});
