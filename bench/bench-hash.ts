// Single-core hashing throughput: is CRC64 + MD5 of a staged file faster than the network?
// Usage: node dist/bench/bench-hash.js [MiB]   (default 1024 MiB, fed in 1 MiB chunks)
import { randomFillSync } from 'node:crypto';
import { createCrc64, crc64Combine } from '../src/hash/crc64.js';
import { createMd5 } from '../src/hash/md5.js';

const CHUNK = 1024 * 1024;
const totalMiB = Number(process.argv[2] ?? 1024);
// 16 distinct chunks, reused, so the bench measures hashing rather than random generation.
const chunks = Array.from({ length: 16 }, () => randomFillSync(Buffer.allocUnsafe(CHUNK)));

function rate(bytes: number, ms: number): string {
  return `${((bytes / 1e6) / (ms / 1000)).toFixed(0)} MB/s`;
}

async function timeHasher(name: string, make: () => Promise<{ update(d: Uint8Array): void; finish(): unknown }>): Promise<void> {
  const h = await make();
  h.update(chunks[0]!); // warm up
  const t0 = performance.now();
  for (let i = 0; i < totalMiB; i++) h.update(chunks[i % chunks.length]!);
  h.finish();
  const ms = performance.now() - t0;
  console.log(`${name}: ${rate(totalMiB * CHUNK, ms)}  (${totalMiB} MiB in ${ms.toFixed(0)} ms)`);
}

await timeHasher('crc64', async () => {
  const h = await createCrc64();
  return { update: (d) => h.update(d), finish: () => h.digest() };
});
await timeHasher('md5', async () => {
  const h = createMd5();
  return { update: (d) => h.update(d), finish: () => h.digestHex() };
});

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
