// `npm run demo`: a real backup cycle against the embedded emulator. Starts the emulator, writes a
// config for it — CDB backups, a URL list and a local folder as sources; COS and an Aliyun-OSS-mode S3
// bucket as destinations — runs the built CLI twice (the second run has nothing to do), and shows what
// landed in each bucket.
import { spawn } from 'node:child_process';
import { mkdir, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startEmulator } from '@cdb2cos/emulator';
import { formatBytes } from './run/index.js';

const root = resolve(fileURLToPath(new URL('../..', import.meta.url)));
const dir = join(root, '.demo');
const cli = join(root, 'dist', 'src', 'cli.js');

function runCli(args: string[]): Promise<number> {
  return new Promise((res) => {
    const child = spawn(process.execPath, [cli, ...args], { stdio: 'inherit', env: { ...process.env, http_proxy: '', https_proxy: '' } });
    child.on('exit', (code) => res(code ?? 1));
  });
}

async function main(): Promise<void> {
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  const emu = await startEmulator({ dataDir: join(dir, 'emulator') });
  try {
    const config = join(dir, 'cos.ini');
    await emu.writeConfig(config, {
      // The emulator's sample URL list and local folder (files written just now: min_age 0s copies them at once).
      urls: { file: emu.info.urlsFile },
      local: { paths: `${emu.info.localDir}/mysqldump/*.gz, ${emu.info.localDir}/backup/**/*.xb`, min_age: '0s' },
      // A second destination in another cloud: the emulator's S3 endpoint in Aliyun OSS mode.
      s3: emu.s3Config('oss'),
      transfer: { staging_dir: join(dir, 'staging') },
      log: { dir: join(dir, 'logs') },
    });
    console.log(`emulator: CDB API ${emu.info.cdbEndpoint}, COS ${emu.info.cosEndpoint}, S3 ${emu.info.s3Endpoint}, files ${emu.info.fileEndpoint}, instances ${emu.info.instances.join(', ')}`);
    console.log(`sources:  [cdb] ${emu.info.instances.join(', ')}; [urls] ${emu.info.urlsFile}; [local] ${emu.info.localDir}`);
    console.log(`targets:  [cos] cos://${emu.info.bucket}; [s3] provider oss, s3://${emu.info.s3.oss.bucket}`);
    console.log(`config:   ${config}\n`);
    console.log(`$ cdb2cos run --config ${config} --verbose`);
    const first = await runCli(['run', '--config', config, '--verbose']);
    console.log(`exit code ${first}\n`);
    console.log(`$ cdb2cos run --config ${config}   # again: everything is already there`);
    const second = await runCli(['run', '--config', config]);
    console.log(`exit code ${second}\n`);
    console.log(`in bucket ${emu.info.bucket} (COS):`);
    const inCos = new Map<string, string>();
    for (const o of emu.cos.objects(emu.info.bucket)) {
      if (o.key.includes('.cdb2cos/')) continue;
      inCos.set(o.key, o.crc64);
      console.log(`  cos://${emu.info.bucket}/${o.key}  ${formatBytes(o.size)}  crc64 ${o.crc64}`);
    }
    const oss = emu.info.s3.oss.bucket;
    const inOss = emu.s3.objects(oss).filter((o) => !o.key.includes('.cdb2cos/'));
    const same = inOss.filter((o) => inCos.get(o.key) === o.crc64).length;
    console.log(`in bucket ${oss} (S3, OSS mode): ${inOss.length} objects, ${same} of them identical (key and CRC-64) to their COS copy`);
    console.log(`\nlog files: ${join(dir, 'logs')}`);
    process.exitCode = first === 0 && second === 0 ? 0 : 1;
  } finally {
    await emu.close();
  }
}

main().catch((err: unknown) => {
  console.error(`demo failed: ${err instanceof Error ? err.message : String(err)}`);
  process.exitCode = 1;
});
