// `cdb2cos emulator`: runs the emulator until SIGINT/SIGTERM. The first line of stdout is one JSON
// object (EmulatorInfo plus configPath) that other programs parse; what follows is for people.
import { once } from 'node:events';
import { join } from 'node:path';
import type { Writable } from 'node:stream';
import { formatCdbTime } from './catalog.js';
import { startEmulator, type Emulator } from './index.js';

export interface EmulatorCommandOptions {
  port?: number;
  dataDir?: string;
  /** Download bytes per second per connection, 0 = none. */
  rate?: number;
  stdout?: Writable;
  /** Stops the emulator like SIGINT does (for tests and embedding). */
  signal?: AbortSignal;
  /** Called once the emulator is up and the config written. */
  onReady?: (emulator: Emulator) => void;
}

export async function runEmulatorCommand(opts: EmulatorCommandOptions = {}): Promise<void> {
  const out = opts.stdout ?? process.stdout;
  const emulator = await startEmulator({
    ...(opts.port !== undefined ? { port: opts.port } : {}),
    ...(opts.dataDir !== undefined ? { dataDir: opts.dataDir } : {}),
    ...(opts.rate !== undefined ? { rate: opts.rate } : {}),
  });
  try {
    const configPath = await emulator.writeConfig(join(emulator.info.dataDir, 'cdb2cos.ini'));
    write(out, JSON.stringify({ ...emulator.info, configPath }) + '\n');
    write(out, summary(emulator, configPath, opts.rate ?? 0));
    opts.onReady?.(emulator);
    await untilStopped(opts.signal);
    write(out, 'stopping the emulator\n');
  } finally {
    await emulator.close();
  }
}

function write(out: Writable, text: string): void {
  out.write(text);
}

function summary(emulator: Emulator, configPath: string, rate: number): string {
  const i = emulator.info;
  const lines = [
    '',
    'cdb2cos emulator is running (Ctrl-C to stop)',
    `  CDB API    ${i.cdbEndpoint}   region ${i.cdbRegion}`,
    `  downloads  ${i.downloadEndpoint}   ${rate > 0 ? `${rate} bytes/s per connection` : 'no rate limit'}`,
    `  COS        ${i.cosEndpoint}   bucket ${i.bucket} in ${i.cosRegion}`,
    `  metadata   ${i.metadataEndpoint}   CVM role ${i.roleName ?? '(none)'}`,
    `  STS        ${i.stsEndpoint}   role ${i.roleArn}`,
    `  S3         ${i.s3Endpoint}   access key id ${i.s3AccessKeyId}`,
    ...Object.entries(i.s3).map(([mode, m]) => `    ${mode.padEnd(6)} bucket ${m.bucket.padEnd(14)} region ${m.region.padEnd(12)} endpoint ${m.endpoint}`),
    `  files      ${i.fileEndpoint}/files/   URL list ${i.urlsFile}`,
    `  local dir  ${i.localDir}`,
    `  control    ${i.cdbEndpoint}/_emulator/state`,
    `  secret id  ${i.secretId}`,
    `  data dir   ${i.dataDir}`,
    '',
    '  items (times in UTC+8, as CDB shows them):',
  ];
  for (const inst of emulator.catalog.instances()) {
    lines.push(`  ${inst.id} (${inst.region})`);
    for (const type of ['data', 'binlog', 'slowlog'] as const) {
      for (const it of emulator.catalog.list(inst.id, type)) {
        const extra = [it.status, it.cosStorageType === 1 ? 'archived' : '', it.md5 ? '' : type === 'data' ? 'no MD5' : '']
          .filter((s) => s !== '' && s !== 'SUCCESS' && s !== 'FINISHED')
          .join(', ');
        lines.push(`    ${type.padEnd(7)} ${formatCdbTime(it.time)}  ${String(it.size).padStart(10)} B  ${it.name}${extra ? `  (${extra})` : ''}`);
      }
    }
  }
  lines.push('', `config written to ${configPath}`, '');
  return lines.join('\n');
}

async function untilStopped(signal: AbortSignal | undefined): Promise<void> {
  const ac = new AbortController();
  const stop = (): void => ac.abort();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  signal?.addEventListener('abort', stop, { once: true });
  if (signal?.aborted) stop();
  try {
    if (!ac.signal.aborted) await once(ac.signal, 'abort');
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
    signal?.removeEventListener('abort', stop);
  }
}
