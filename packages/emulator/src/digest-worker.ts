// Hashes one emulated item off the main thread (see content.ts: digests of large items).
import { parentPort, workerData } from 'node:worker_threads';
import { digestNow, type DigestJob } from './content.js';

const result = await digestNow(workerData as DigestJob);
parentPort?.postMessage(result);
