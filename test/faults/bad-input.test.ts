// Bad input: each mistake a person or cron can make gives one clear line on stderr (no stack trace)
// and the documented exit code: 2 usage/config, 3 credentials or permission rejected.
import assert from 'node:assert/strict';
import { appendFile, chmod, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { startEmulator, type Emulator } from '@cdb2cos/emulator';
import { lines, runCli, type CliResult } from '../helpers/harness.js';

const INSTANCE = 'cdb-fault001';
let emu: Emulator;
let dir: string;
let n = 0;

before(async () => {
  emu = await startEmulator({ instances: [{ id: INSTANCE, items: [{ type: 'binlog', size: 1000, minutesAgo: 60 }] }] });
  dir = emu.info.dataDir;
});
after(() => emu.close());

/** A config for the emulator with these overrides, in a file of its own. */
const config = (overrides: Parameters<Emulator['writeConfig']>[1] = {}): Promise<string> => emu.writeConfig(join(dir, `c${++n}.ini`), overrides);

function assertOneLine(r: CliResult, code: number, pattern: RegExp): void {
  assert.equal(r.code, code, `exit code; stderr: ${r.stderr}`);
  const errLines = lines(r.stderr);
  assert.equal(errLines.length, 1, `one line on stderr, got: ${r.stderr}`);
  assert.match(errLines[0]!, pattern);
  assert.doesNotMatch(r.stderr, /^\s+at /m, 'no stack trace');
}

test('a missing config file: exit 2, "config file not found" with its path', async () => {
  const r = await runCli(['run', '--config', join(dir, 'nope.ini')]);
  assertOneLine(r, 2, /^cdb2cos: error: config file not found: .*\/nope\.ini$/);
});

test('an unreadable config file (mode 000): exit 2, names the file and EACCES', async (t) => {
  if (process.getuid?.() === 0) {
    t.skip('running as root: root reads a mode-000 file anyway (the directory case below covers a read failure)');
    return;
  }
  const path = await config();
  await chmod(path, 0o000);
  const r = await runCli(['run', '--config', path]);
  assertOneLine(r, 2, /cannot read config file .*: EACCES$/);
});

test('a directory given as the config file: exit 2, names it and EISDIR', async () => {
  const path = join(dir, 'a-folder.ini');
  await mkdir(path, { recursive: true });
  const r = await runCli(['run', '--config', path]);
  assertOneLine(r, 2, /cannot read config file .*a-folder\.ini: EISDIR$/);
});

test('malformed INI: exit 2, names the line', async () => {
  const path = await config();
  await appendFile(path, 'this line is not ini\n');
  const r = await runCli(['run', '--config', path]);
  assertOneLine(r, 2, /invalid config .*: line \d+: expected "\[section\]", "key = value" or a ; comment$/);
});

test('a missing required key: exit 2, names the key and gives an example', async () => {
  const r = await runCli(['run', '--config', await config({ cos: { bucket: undefined } })]);
  assertOneLine(r, 2, /cos\.bucket: required, e\.g\. backup-1250000000$/);
});

test('an unknown key: exit 2, names it and suggests the closest one', async () => {
  const r = await runCli(['run', '--config', await config({ transfer: { part_sise: '1MiB' } })]);
  assertOneLine(r, 2, /transfer\.part_sise: unknown key; did you mean part_size\?$/);
});

test('a bad region: exit 2, shows the value and an example', async () => {
  const r = await runCli(['run', '--config', await config({ cdb: { region: 'shanghai' } })]);
  assertOneLine(r, 2, /cdb\.region: must be a region like ap-shanghai \(got "shanghai"\)$/);
});

test('a bad bucket name: exit 2, shows the expected shape', async () => {
  const r = await runCli(['run', '--config', await config({ cos: { bucket: 'Backup_Bucket' } })]);
  assertOneLine(r, 2, /cos\.bucket: must look like <name>-<appid>.*\(got "Backup_Bucket"\)$/);
});

test('an instance that does not exist: exit 2, names the instance', async () => {
  const r = await runCli(['run', '--config', await config({ cdb: { instances: 'cdb-nosuch01' } })]);
  assertOneLine(r, 2, /cdb-nosuch01 not found in region ap-shanghai/);
});

test('a wrong secret key: exit 3, says the credentials were rejected, never shows the secret', async () => {
  const secret = 'wrongWRONGwrong0123456789abcdefXY';
  const r = await runCli(['run', '--config', await config({ credentials: { secret_key: secret } })]);
  assertOneLine(r, 3, /credentials/);
  assert.ok(!r.stderr.includes(secret) && !r.stdout.includes(secret));
  assert.equal(emu.cos.objects(emu.info.bucket).length, 0);
});

test('a key COS accepts but the CDB API does not know: exit 3', async (t) => {
  const cred = { secretId: 'AKIDcosOnlyKey000000000000000000000', secretKey: 'cosOnlySecret0000000000000000000' };
  emu.cos.addCredential(cred);
  t.after(() => emu.cos.addCredential({ ...cred, secretKey: 'revoked' }));
  const r = await runCli(['run', '--config', await config({ credentials: { secret_id: cred.secretId, secret_key: cred.secretKey } })]);
  assertOneLine(r, 3, /AuthFailure/);
  assert.ok(!r.stderr.includes(cred.secretKey));
});

test('COS access denied (403 AccessDenied on the bucket): exit 3, names the bucket', async (t) => {
  // The emulator has no bucket policies; an armed fault answers as COS does for a key without rights.
  emu.cos.faults.failOp({ op: 'HeadBucket', status: 403, code: 'AccessDenied', times: 1000 });
  t.after(() => emu.cos.faults.clear());
  const r = await runCli(['run', '--config', await config()]);
  assertOneLine(r, 3, new RegExp(`denied access to bucket ${emu.info.bucket}`));
});

test('no such bucket: exit 2, names the bucket and region', async () => {
  const r = await runCli(['run', '--config', await config({ cos: { bucket: 'nosuch-1250000000' } })]);
  assertOneLine(r, 2, /cos\.bucket: bucket nosuch-1250000000 does not exist in region ap-guangzhou$/);
});

test('a staging dir that cannot be created (under a regular file): exit 2, names it', async () => {
  const file = join(dir, 'a-file');
  await writeFile(file, 'x');
  const r = await runCli(['run', '--config', await config({ transfer: { staging_dir: join(file, 'staging') } })]);
  assertOneLine(r, 2, /transfer\.staging_dir: cannot create .*a-file\/staging: ENOTDIR$/);
});

test('a log dir that cannot be created (under a regular file): exit 2, names it', async () => {
  const file = join(dir, 'another-file');
  await writeFile(file, 'x');
  const r = await runCli(['run', '--config', await config({ log: { dir: join(file, 'logs') } })]);
  assertOneLine(r, 2, /log\.dir: cannot write the log in .*another-file\/logs: ENOTDIR$/);
});

test('--since after --until: exit 2, shows both', async () => {
  const r = await runCli(['run', '--config', await config(), '--since', '2026-11-02', '--until', '2026-11-01']);
  assertOneLine(r, 2, /--since 2026-11-02 is after --until 2026-11-01$/);
});

test('a --since that does not parse: exit 2, shows the value and the formats', async () => {
  const r = await runCli(['run', '--config', await config(), '--since', 'yesterday']);
  assertOneLine(r, 2, /"yesterday" is not a date \(YYYY-MM-DD\)/);
});

test('an --until date that does not exist (2026-02-30): exit 2, not silently read as March', async () => {
  const r = await runCli(['run', '--config', await config(), '--until', '2026-02-30']);
  assertOneLine(r, 2, /"2026-02-30" is not a date/);
  assert.equal(emu.cos.objects(emu.info.bucket).length, 0, 'nothing was copied');
});
