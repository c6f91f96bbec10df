// status, verify and prune work on CDB backups in COS: a config with other sources or destinations only
// is refused by them with one line and exit 2, while `run` copies it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { requireCdbCos } from '../../src/commands/context.js';
import { parseConfig } from '../../src/config.js';
import { lines, runCli, tempDir } from '../helpers/harness.js';

const URLS_TO_S3 = (dir: string): string => `
[urls]
file = ${join(dir, 'urls.txt')}
[s3]
provider = minio
endpoint = http://127.0.0.1:9
bucket = db-backups
access_key_id = AKIAEXAMPLE
secret_access_key = not-a-real-key
[transfer]
staging_dir = ${join(dir, 'staging')}
[log]
dir = ${join(dir, 'logs')}
`;

test('status, verify and prune refuse a config without [cdb] and [cos] with one line naming what is missing, exit 2', async (t) => {
  const dir = await tempDir(t);
  const cfg = join(dir, 'c.ini');
  await writeFile(cfg, URLS_TO_S3(dir));
  await chmod(cfg, 0o600);
  for (const command of ['status', 'verify', 'prune']) {
    const r = await runCli([command, '--config', cfg]);
    assert.equal(r.code, 2, `${command}: ${r.stderr}`);
    const said = lines(r.stderr);
    assert.equal(said.length, 1, r.stderr);
    assert.match(said[0]!, new RegExp(`${command}: works on CDB backups copied to COS, and .* has neither a \\[cdb\\] nor a \\[cos\\] section`));
    assert.ok(!r.stderr.includes('not-a-real-key'), 'no secret in the message');
  }
});

test('requireCdbCos names the one section missing', () => {
  const only = (text: string) => parseConfig(text, { path: '/etc/cdb2cos/c.ini', env: {} }).config!;
  const cdbToS3 = only('[cdb]\nregion = ap-shanghai\ninstances = cdb-aaaa1111\n[s3]\nprovider = minio\nendpoint = http://127.0.0.1:9\nbucket = db-backups\naccess_key_id = a\nsecret_access_key = b\n');
  assert.throws(() => requireCdbCos(cdbToS3, 'verify'), { code: 'ERR_CONFIG', message: 'verify: works on CDB backups copied to COS, and /etc/cdb2cos/c.ini has no [cos] section' });
  const both = only('[cdb]\nregion = ap-shanghai\ninstances = cdb-aaaa1111\n[cos]\nregion = ap-guangzhou\nbucket = backup-1250000000\n');
  assert.equal(requireCdbCos(both, 'status'), both);
});
