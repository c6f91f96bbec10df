// The thread side of hash-pool.ts: MD5 and CRC64 of upload bodies, fed 1 MiB slots of shared memory.
import { createHash, type Hash } from 'node:crypto';
import { parentPort, workerData } from 'node:worker_threads';
import { createCrc64, type Crc64 } from '../crc64.js';
import type { FromHashWorker, ToHashWorker } from './hash-pool.js';

const { sab } = workerData as { sab: SharedArrayBuffer };
const memory = new Uint8Array(sab);
const port = parentPort!;

interface State {
  md5: Hash;
  crc: Crc64;
}
const streams = new Map<number, Promise<State>>();

function state(id: number): Promise<State> {
  let s = streams.get(id);
  if (s === undefined) {
    s = createCrc64().then((crc) => ({ md5: createHash('md5'), crc }));
    streams.set(id, s);
  }
  return s;
}

function post(m: FromHashWorker): void {
  port.postMessage(m);
}

// Messages are handled strictly in arrival order (the CRC hasher is created asynchronously).
let queue: Promise<void> = Promise.resolve();
port.on('message', (m: ToHashWorker) => {
  queue = queue.then(async () => {
    switch (m.t) {
      case 'data': {
        const s = await state(m.id);
        const view = memory.subarray(m.offset, m.offset + m.length);
        s.md5.update(view);
        s.crc.update(view);
        post({ t: 'free', slot: m.slot });
        break;
      }
      case 'end': {
        const s = await state(m.id);
        streams.delete(m.id);
        post({ t: 'digest', id: m.id, md5: s.md5.digest('hex'), crc64: s.crc.digest().toString() });
        break;
      }
      case 'drop':
        streams.delete(m.id);
        break;
    }
  });
});
