// End to end through the built CLI: a URL list and a local folder as sources, copied in one run to COS
// and to an S3 bucket (OSS mode); what landed is compared byte for byte with the emulator's content
// helpers. A rerun copies and downloads nothing; an object missing from one bucket is copied to that
// one only. Keys cannot leave the prefix; a local symlink leading out is never read; a URL the server
// refuses fails alone.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { sampleFiles, SAMPLE_LOCAL_FILES, type Emulator } from '@cdb2cos/emulator';
import { eventsOf, lines, readLog, readLogText, runCli, startTestEmulator } from '../helpers/harness.js';
import {
  assertStored,
  copiesIn,
  deleteFromS3,
  fileDownloads,
  filePath,
  localKey,
  logDir,
  manifestKeys,
  openUploadsIn,
  urlKey,
  writeEndsConfig,
  writesTo,
  type Dest,
} from '../helpers/ends.js';
import { finished } from './expect.js';

const COS_PREFIX = 'cosbk/';
const S3_PREFIX = 's3/bk/';
const DESTS: ReadonlyArray<readonly [Dest, string]> = [
  ['cos', COS_PREFIX],
  ['oss', S3_PREFIX],
];

/** Each sample URL file's key below the prefix (db2 has a KEY of its own in the emulator's urls.txt). */
function urlItems(): Array<{ path: string; key: string }> {
  return sampleFiles().map((f) => ({ path: f.path, key: f.path === 'mysqldump/db2.sql.gz' ? 'urls/custom/db2.sql.gz' : urlKey(f.path) }));
}

/** Each sample local file's key below the prefix: globs <localDir>/**\/*.gz (base localDir) and <localDir>/backup/**\/*.xb (base backup/). */
function localItems(): Array<{ path: string; key: string }> {
  return SAMPLE_LOCAL_FILES.map(([path]) => ({ path, key: localKey(path.startsWith('backup/') ? path.slice('backup/'.length) : path) }));
}

function localPaths(emu: Emulator): string {
  return `${emu.info.localDir}/**/*.gz, ${emu.info.localDir}/backup/**/*.xb`;
}

async function assertAllLanded(emu: Emulator): Promise<void> {
  for (const [dest, prefix] of DESTS) {
    const want = [...urlItems(), ...localItems()].map((i) => prefix + i.key).sort();
    assert.deepEqual(copiesIn(emu, dest), want, `${dest}: exactly the items, under ${prefix}`);
    for (const i of urlItems()) await assertStored(emu, dest, prefix + i.key, emu.expectedFileContent(i.path));
    for (const i of localItems()) await assertStored(emu, dest, prefix + i.key, emu.expectedLocalContent(i.path));
    assert.deepEqual(openUploadsIn(emu, dest), [], `${dest}: no upload left open`);
    assert.deepEqual(await manifestKeys(emu, dest, 'urls', prefix), urlItems().map((i) => prefix + i.key).sort(), `${dest}: the urls manifest records each`);
    assert.deepEqual(await manifestKeys(emu, dest, 'local', prefix), localItems().map((i) => prefix + i.key).sort(), `${dest}: the local manifest records each`);
  }
}

test('a URL list and a local folder go to COS and OSS in one run, each item fetched once; a rerun copies nothing; an object deleted from one bucket is copied to that one only', async (t) => {
  const emu = await startTestEmulator(t, { instances: [] });
  const cfg = await writeEndsConfig(emu, {
    cos: { prefix: COS_PREFIX },
    s3: { mode: 'oss', prefix: S3_PREFIX },
    urls: { file: emu.info.urlsFile },
    local: { paths: localPaths(emu), min_age: '0s' },
    transfer: { part_size: '1MiB' },
  });
  const n = urlItems().length + localItems().length;

  const first = await runCli(['run', '--config', cfg, '-v']);
  assert.equal(first.code, 0, first.stderr);
  assert.equal(first.stderr, '');
  await assertAllLanded(emu);
  assert.match(first.stdout, new RegExp(`^copied ${n}, skipped 0, waiting 0, archived 0, failed 0, `, 'm'));
  // One line per item naming both destinations.
  for (const i of urlItems()) {
    const name = i.path.split('/').at(-1)!;
    assert.ok(
      lines(first.stdout).some((l) => l.startsWith(`copied urls url ${name} `) && l.endsWith(`→ cos://${emu.info.bucket}/${COS_PREFIX}${i.key}, s3://${emu.info.s3.oss.bucket}/${S3_PREFIX}${i.key}`)),
      `stdout reports ${i.path} to both destinations:\n${first.stdout}`,
    );
  }
  // Each URL file was fetched once for both destinations: its bytes left the file server once.
  for (const f of sampleFiles()) {
    const got = fileDownloads(emu).filter((r) => r.path === filePath(f.path));
    const served = emu.files.requests.filter((r) => r.path === filePath(f.path) && r.range !== 'bytes=0-0').reduce((s, r) => s + r.bytesOut, 0);
    assert.ok(got.length >= 1, `${f.path} downloaded`);
    assert.equal(served, f.size, `${f.path}: its bytes were served once, for both destinations`);
  }
  const log1 = await readLog(logDir(emu));
  // The signed URL's query and the keys of both destinations never appear in what the run says.
  const signedLine = (await readFile(emu.info.urlsFile, 'utf8')).split('\n').find((l) => l.includes('Signature='))!;
  const signature = new URL(signedLine.split(/\s+/)[0]!).searchParams.get('Signature')!;
  assert.ok(signature.length > 20);
  const texts = { stdout: first.stdout, stderr: first.stderr, log: await readLogText(logDir(emu)) };
  for (const [what, text] of Object.entries(texts)) {
    assert.ok(!text.includes(signature), `${what}: no URL signature`);
    assert.doesNotMatch(text, /Signature=|Expires=/, `${what}: no signed query string`);
    for (const secret of [emu.info.secretKey, emu.info.s3SecretAccessKey]) assert.ok(!text.includes(secret), `${what}: no secret key`);
  }
  const f1 = finished(log1);
  assert.equal(f1['copied'], n);
  const total = sampleFiles().reduce((s, f) => s + f.size, 0) + SAMPLE_LOCAL_FILES.reduce((s, [, size]) => s + size, 0);
  assert.equal(f1['bytes'], total);
  assert.equal(f1['bytesUploaded'], 2 * total, 'every byte sent once to each destination');

  // The rerun: nothing to copy, nothing fetched beyond the probes, nothing written anywhere.
  emu.resetLog();
  const again = await runCli(['run', '--config', cfg]);
  assert.equal(again.code, 0, again.stderr);
  assert.equal(again.stderr, '');
  assert.match(again.stdout, new RegExp(`^copied 0, skipped ${n}, waiting 0, archived 0, failed 0, 0 B in `, 'm'));
  assert.deepEqual(fileDownloads(emu), [], 'no URL downloaded again (the probes only)');
  assert.deepEqual(writesTo(emu, 'cos'), [], 'no COS writes');
  assert.deepEqual(writesTo(emu, 'oss'), [], 'no S3 writes');
  await assertAllLanded(emu);

  // One URL item and one local item deleted from the S3 bucket only: copied there again, not to COS.
  const gone = [S3_PREFIX + urlItems()[2]!.key, S3_PREFIX + localItems()[0]!.key];
  for (const k of gone) await deleteFromS3(emu, 'oss', k);
  assert.equal(copiesIn(emu, 'oss').filter((k) => gone.includes(k)).length, 0);
  emu.resetLog();
  const third = await runCli(['run', '--config', cfg, '-v']);
  assert.equal(third.code, 0, third.stderr);
  assert.match(third.stdout, new RegExp(`^copied 2, skipped ${n - 2}, waiting 0, archived 0, failed 0, `, 'm'));
  assert.deepEqual(writesTo(emu, 'cos').filter((w) => !w.includes('.cdb2cos/')), [], 'COS, which held both, got no copy');
  const s3Writes = writesTo(emu, 'oss').filter((w) => !w.includes('.cdb2cos/'));
  assert.deepEqual([...new Set(s3Writes.map((w) => w.slice(w.indexOf(' ') + 1)))].sort(), [...gone].sort(), 'S3 got the two it lacked, nothing else');
  for (const l of lines(third.stdout).filter((x) => x.startsWith('copied ') && x.includes('→'))) {
    assert.doesNotMatch(l, /cos:\/\//, `only the S3 destination is named: ${l}`);
  }
  // Only the URL item was fetched again (the local one is read in place).
  assert.deepEqual([...new Set(fileDownloads(emu).map((r) => r.path))], [filePath(urlItems()[2]!.path)]);
  await assertAllLanded(emu);
});

test('a local symlink leading out of the glob base is never read: not in the bucket, and the log warns "symlink skipped"', async (t) => {
  const emu = await startTestEmulator(t, { instances: [] });
  const cfg = await writeEndsConfig(emu, {
    cos: false,
    s3: { mode: 'oss' },
    local: { paths: `${emu.info.localDir}/backup/**/*.xb, ${emu.info.localDir}/backup/escape.xb`, min_age: '0s' },
  });
  const r = await runCli(['run', '--config', cfg]);
  assert.equal(r.code, 0, r.stderr);
  const keys = copiesIn(emu, 'oss');
  assert.ok(!keys.some((k) => k.includes('escape') || k.includes('secret')), `no object for the symlink leading out: ${keys.join(', ')}`);
  assert.deepEqual(keys, localItems().filter((i) => i.path.startsWith('backup/')).map((i) => i.key).sort());
  // Nothing in the bucket holds the outside file's bytes.
  const secretCrc = (await import('@cdb2cos/emulator')).contentCrc64('local-outside:secret.xb', 4 * 1024);
  const crc = (await secretCrc).toString();
  assert.ok(!emu.s3.objects(emu.info.s3.oss.bucket).some((o) => o.crc64 === crc), 'the outside file was not copied under any key');
  const log = await readLog(logDir(emu));
  const warned = eventsOf(log, 'symlink skipped');
  assert.ok(warned.length >= 1, 'warned');
  for (const w of warned) {
    assert.equal(w.level, 'warn');
    assert.equal(w['path'], join(emu.info.localDir, 'backup', 'escape.xb'));
  }
});

test('keys cannot leave the prefix: a URL list line with a KEY holding "..", a leading "/" or a %2F-encoded path is refused with one line naming it; %2e%2e in a URL path is resolved inside the prefix', async (t) => {
  const emu = await startTestEmulator(t, { instances: [] });
  const url = emu.addFile({ path: 'dumps/ok.sql.gz', size: 10_000, checksums: ['crc64'] });
  const other = emu.addFile({ path: 'dumps/other.sql.gz', size: 20_000, checksums: ['md5'] });
  const base = emu.info.fileEndpoint;
  const listPath = join(emu.info.dataDir, 'list.txt');
  const cfg = await writeEndsConfig(emu, {
    cos: { prefix: 'p/' },
    urls: { file: listPath },
    local: { paths: `${emu.info.localDir}/mysqldump/*.gz`, min_age: '0s' },
  });
  const bad: Array<[string, RegExp]> = [
    [`${url} ../escape.sql.gz`, /list\.txt line 2: KEY "\.\.\/escape\.sql\.gz" has the segment "\.\."/],
    [`${url} a/../../escape.sql.gz`, /list\.txt line 2: KEY "a\/\.\.\/\.\.\/escape\.sql\.gz" has the segment "\.\."/],
    [`${url} /etc/escape.sql.gz`, /list\.txt line 2: KEY "\/etc\/escape\.sql\.gz" starts with "\/"/],
    [`${base}/files/%2e%2e%2f%2e%2e%2fescape.sql.gz`, /list\.txt line 2: the URL path of .* has a segment holding "\/"/],
  ];
  for (const [line, why] of bad) {
    await writeFile(listPath, `# list\n${line}\n${other}\n`);
    emu.resetLog();
    const r = await runCli(['run', '--config', cfg]);
    assert.equal(r.code, 1, `${line}: exit 1\n${r.stderr}`);
    const said = lines(r.stderr);
    assert.equal(said.length, 1, `one line for ${line}: ${r.stderr}`);
    assert.match(said[0]!, why);
    assert.deepEqual(emu.files.requests, [], 'no URL was requested: the list is checked first');
    assert.ok(copiesIn(emu, 'cos').every((k) => k.startsWith('p/local/')), `no URL item copied: ${copiesIn(emu, 'cos').join(', ')}`);
    assert.equal(copiesIn(emu, 'cos').length, 2, 'the local source still copies');
  }
  // A URL whose path climbs with %2e%2e: the URL parser resolves it, and its key stays under the prefix.
  await writeFile(listPath, `${base}/%2e%2e/files/%2E%2E/files/dumps/ok.sql.gz\n`);
  const r = await runCli(['run', '--config', cfg]);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(copiesIn(emu, 'cos').filter((k) => !k.startsWith('p/local/')), ['p/urls/127.0.0.1/files/dumps/ok.sql.gz']);
  await assertStored(emu, 'cos', 'p/urls/127.0.0.1/files/dumps/ok.sql.gz', emu.expectedFileContent('dumps/ok.sql.gz'));
  assert.ok(copiesIn(emu, 'cos').every((k) => k.startsWith('p/')));
});

for (const [status, arm] of [
  [404, (emu: Emulator, path: string) => emu.files.faults.notFound({ path })],
  [403, (emu: Emulator, path: string) => emu.files.faults.forbidden({ path })],
] as const) {
  test(`a URL answering ${status} fails that item alone with one clear line; the others copy; exit 1`, async (t) => {
    const emu = await startTestEmulator(t, { instances: [] });
    const cfg = await writeEndsConfig(emu, { cos: false, s3: { mode: 'oss' }, urls: { file: emu.info.urlsFile } });
    const victim = 'mysqldump/db1.sql.gz';
    arm(emu, victim);
    const r = await runCli(['run', '--config', cfg]);
    assert.equal(r.code, 1, r.stderr);
    const failed = lines(r.stderr).filter((l) => l.includes('FAILED'));
    assert.equal(failed.length, 1, r.stderr);
    assert.match(failed[0]!, new RegExp(`^cdb2cos: FAILED urls url db1\\.sql\\.gz: HTTP ${status} `));
    assert.doesNotMatch(r.stderr, /Signature=|Expires=/, 'no signed query string');
    assert.match(r.stdout, /^copied 4, skipped 0, waiting 0, archived 0, failed 1, /m);
    const others = urlItems().filter((i) => i.path !== victim);
    assert.deepEqual(copiesIn(emu, 'oss'), others.map((i) => i.key).sort());
    for (const i of others) await assertStored(emu, 'oss', i.key, emu.expectedFileContent(i.path));
    assert.ok(!(await manifestKeys(emu, 'oss', 'urls'))!.includes(urlKey(victim)), 'not recorded');
    assert.match(await readLogText(logDir(emu)), new RegExp(`"failure":"HTTP ${status} [^"]*".*"msg":"url failed"`));

    // Once the server serves it again, the next run copies it and only it.
    emu.clearFaults();
    const again = await runCli(['run', '--config', cfg]);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /^copied 1, skipped 4, /m);
    await assertStored(emu, 'oss', urlKey(victim), emu.expectedFileContent(victim));
  });
}
