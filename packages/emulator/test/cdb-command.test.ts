// `cdb2cos emulator` as a process: the JSON first line other programs parse, the config it writes,
// and a clean exit on SIGTERM.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { request } from 'undici';

const main = fileURLToPath(new URL('../src/main.js', import.meta.url));

test('prints its endpoints as one JSON line, writes a config, and exits 0 on SIGTERM', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'cdb2cos-emu-cmd-'));
  const child = spawn(process.execPath, [main, '--data-dir', dataDir, '--rate', '0'], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    const lines = createInterface({ input: child.stdout });
    const out: string[] = [];
    let sawConfig!: () => void;
    const configLine = new Promise<void>((r) => (sawConfig = r));
    lines.on('line', (l) => {
      out.push(l);
      if (l.startsWith('config written to ')) sawConfig();
    });
    await configLine;
    const info = JSON.parse(out[0] ?? '') as Record<string, unknown>;
    for (const k of ['cdbEndpoint', 'cosEndpoint', 'downloadEndpoint', 'secretId', 'secretKey', 'cdbRegion', 'cosRegion', 'bucket', 'instances', 'configPath']) {
      assert.ok(k in info, `${k} missing from the first line`);
    }
    for (const k of ['s3Endpoint', 's3AccessKeyId', 's3SecretAccessKey', 's3', 'fileEndpoint', 'urlsFile', 'localDir']) assert.ok(k in info, `${k} missing from the first line`);
    const s3 = info['s3'] as Record<string, { bucket: string; region: string; endpoint: string; connectTo: string }>;
    assert.deepEqual(Object.keys(s3), ['aws', 'oss', 'bos', 'minio', 'other']);
    assert.equal(s3['oss']?.endpoint, 'http://s3.oss-cn-hangzhou.aliyuncs.com');
    assert.equal(`http://${s3['oss']?.connectTo}`, info['s3Endpoint']);
    assert.ok(out.some((l) => l.startsWith('  S3 ')) && out.some((l) => l.startsWith('  files ')), 'the summary names the S3 endpoint and the file server');
    assert.ok(readFileSync(String(info['urlsFile']), 'utf8').includes(`${String(info['fileEndpoint'])}/files/`));
    assert.deepEqual(info['instances'], ['cdb-demo0001', 'cdb-demo0002']);
    assert.match(String(info['cdbEndpoint']), /^http:\/\/127\.0\.0\.1:\d+$/);
    const configPath = String(info['configPath']);
    assert.ok(configPath.startsWith(dataDir));
    assert.equal(statSync(configPath).mode & 0o077, 0, 'the config holds a secret: owner-only');
    const ini = readFileSync(configPath, 'utf8');
    for (const s of ['[credentials]', '[cdb]', '[cos]', '[transfer]', '[log]', `endpoint = ${String(info['cdbEndpoint'])}`, 'instances = cdb-demo0001, cdb-demo0002']) {
      assert.ok(ini.includes(s), `config lacks ${s}`);
    }
    assert.ok(out.some((l) => l.includes('cdb-demo0001')), 'the summary lists the instances');

    const state = await request(`${String(info['cdbEndpoint'])}/_emulator/state`);
    assert.equal(state.statusCode, 200);
    const s = (await state.body.json()) as { instances: Array<{ id: string; items: unknown[] }> };
    assert.equal(s.instances.length, 2);
    assert.equal(s.instances[0]?.items.length, 11);

    child.kill('SIGTERM');
    const [code] = (await once(child, 'exit')) as [number | null];
    assert.equal(code, 0);
    assert.ok(existsSync(configPath), 'a data dir given by the user is kept');
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
  }
});
