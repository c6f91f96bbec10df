// Single-core hashing throughput: the project's CRC-64 (and its CRC-64/NVME, for S3) beside hash-wasm's (the former implementation)
// and MD5 (node:crypto), plus the cost of crc64Combine.
// Usage: node dist/bench/bench-hash.js [MiB] [--runs N] [--chunk-kib K]
//   MiB of data per run (default 1024), runs per hasher (default 5, at least 3; the median is reported
//   with the range), fed in Buffers of K KiB (default 1024). Runs alternate between hashers so that a
//   change in the machine's load falls on all of them alike. CPU-s/GiB is the process's user + system
//   time, which a shared machine inflates less than the wall time.
import { randomFillSync } from 'node:crypto';
import { parseArgs } from 'node:util';
import { createCRC64 } from 'hash-wasm';
import { crc64Combine, newCrc64 } from '../src/hash/crc64.js';
import { newCrc64Nvme } from '../src/hash/crc64nvme.js';
import { createMd5 } from '../src/hash/md5.js';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { runs: { type: 'string', default: '5' }, 'chunk-kib': { type: 'string', default: '1024' } },
});
const totalMiB = Number(positionals[0] ?? 1024);
const runs = Number(values.runs);
const chunkKiB = Number(values['chunk-kib']);
if (!Number.isInteger(totalMiB) || totalMiB < 1 || !Number.isInteger(runs) || runs < 3 || !Number.isInteger(chunkKiB) || chunkKiB < 1) {
  console.error('usage: bench-hash [MiB >= 1] [--runs N >= 3] [--chunk-kib K >= 1]');
  process.exit(2);
}
const CHUNK = chunkKiB * 1024;
const count = Math.ceil((totalMiB * 1024 * 1024) / CHUNK);
const bytes = count * CHUNK;
// Distinct chunks (16 MiB in all, or 16 of them), reused, so the bench measures hashing rather than
// random generation; more than the caches hold, as bytes fresh from a socket or a file would be.
const chunks = Array.from({ length: Math.max(16, Math.ceil((16 * 1024 * 1024) / CHUNK)) }, () => randomFillSync(Buffer.allocUnsafe(CHUNK)));

interface Hasher {
  update(d: Uint8Array): void;
  finish(): unknown;
}
interface Contender {
  name: string;
  make: () => Promise<Hasher>;
  wall: number[];
  cpu: number[];
}

const contenders: Contender[] = [
  {
    name: 'crc64 (cdb2cos, 4-lane WASM)',
    make: async () => {
      const h = newCrc64();
      return { update: (d) => h.update(d), finish: () => h.digest() };
    },
    wall: [],
    cpu: [],
  },
  {
    name: 'crc64nvme (same 4-lane WASM)',
    make: async () => {
      const h = newCrc64Nvme();
      return { update: (d) => h.update(d), finish: () => h.digest() };
    },
    wall: [],
    cpu: [],
  },
  {
    name: 'crc64 (hash-wasm)',
    make: async () => {
      const h = await createCRC64();
      return { update: (d) => h.update(d), finish: () => h.digest('hex') };
    },
    wall: [],
    cpu: [],
  },
  {
    name: 'md5 (node:crypto)',
    make: async () => {
      const h = createMd5();
      return { update: (d) => h.update(d), finish: () => h.digestHex() };
    },
    wall: [],
    cpu: [],
  },
];

const cpuSeconds = (): number => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};

for (const c of contenders) {
  // Warm up: compile, tier up.
  const h = await c.make();
  for (let i = 0; i < 64; i++) h.update(chunks[i % chunks.length]!);
  h.finish();
}
for (let r = 0; r < runs; r++) {
  for (const c of contenders) {
    const h = await c.make();
    const c0 = cpuSeconds();
    const t0 = performance.now();
    for (let i = 0; i < count; i++) h.update(chunks[i % chunks.length]!);
    h.finish();
    c.wall.push((performance.now() - t0) / 1000);
    c.cpu.push(cpuSeconds() - c0);
  }
}

const GiB = 1024 ** 3;
const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const perGiB = (secs: number): number => secs / (bytes / GiB);
const f2 = (x: number): string => x.toFixed(2);

console.log(`${(bytes / 1024 / 1024).toFixed(0)} MiB per run in ${chunkKiB} KiB Buffers, median (range) of ${runs} runs, one core:`);
for (const c of contenders) {
  const w = c.wall.map(perGiB);
  const cpu = c.cpu.map(perGiB);
  const mbps = bytes / 1e6 / median(c.wall);
  console.log(
    `  ${c.name.padEnd(30)} ${mbps.toFixed(0).padStart(5)} MB/s  ${f2(median(w))} s/GiB (${f2(Math.min(...w))}–${f2(Math.max(...w))})` +
      `  CPU ${f2(median(cpu))} s/GiB (${f2(Math.min(...cpu))}–${f2(Math.max(...cpu))})`,
  );
}

const calls = 100_000;
let acc = 0n;
for (let i = 0; i < 1000; i++) acc = crc64Combine(acc, BigInt(i), 5 * 2 ** 30 - i); // warm up
const t0 = performance.now();
for (let i = 0; i < calls; i++) acc = crc64Combine(acc, BigInt(i), 5 * 2 ** 30 - i);
const us = ((performance.now() - t0) * 1000) / calls;
const tSmall = performance.now();
for (let i = 0; i < calls; i++) acc = crc64Combine(acc, BigInt(i), 16 * 1024 * 1024);
const usSmall = ((performance.now() - tSmall) * 1000) / calls;
console.log(`crc64Combine: ${us.toFixed(2)} µs/call (lenB ≈ 5 GiB), ${usSmall.toFixed(2)} µs/call (lenB = 16 MiB)`);
if (acc < 0n) console.log(acc); // keeps acc observable
