// `npm run demo`: a real backup cycle against the embedded emulator. Starts the emulator, writes a
// config for it, runs the built CLI twice (the second run has nothing to do), and shows what landed.
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
    await emu.writeConfig(config, { transfer: { staging_dir: join(dir, 'staging') }, log: { dir: join(dir, 'logs') } });
    console.log(`emulator: CDB API ${emu.info.cdbEndpoint}, COS ${emu.info.cosEndpoint}, instances ${emu.info.instances.join(', ')}`);
    console.log(`config:   ${config}\n`);
    console.log(`$ cdb2cos run --config ${config} --verbose`);
    const first = await runCli(['run', '--config', config, '--verbose']);
    console.log(`exit code ${first}\n`);
    console.log(`$ cdb2cos run --config ${config}   # again: everything is already there`);
    const second = await runCli(['run', '--config', config]);
    console.log(`exit code ${second}\n`);
    console.log(`in bucket ${emu.info.bucket}:`);
    for (const o of emu.cos.objects(emu.info.bucket)) {
      if (o.key.includes('.cdb2cos/')) continue;
      console.log(`  cos://${emu.info.bucket}/${o.key}  ${formatBytes(o.size)}  crc64 ${o.crc64}`);
    }
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
