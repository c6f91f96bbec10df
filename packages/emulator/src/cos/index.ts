// The COS part of the local emulator. The composition in packages/emulator/src/index.ts hands it requests from
// its own server; startCosServer runs it alone (tests, benchmarks).
import { servePart, type PartServer } from '../serve.js';
import { CosEmulator, type CosEmulatorOptions } from './emulator.js';

export { CosEmulator, COS_LIMITS, STORAGE_CLASSES, parseRange } from './emulator.js';
export type { CosEmulatorOptions, CosObjectInfo, CosRequestRecord, CosUploadInfo } from './emulator.js';
export { CosFaults } from './faults.js';
export type { CosOp, OpFailure, PartCorruption, PartFailure, PartReset, ReplyDrop } from './faults.js';
export { camSafeUrlEncode, computeSignature } from './auth.js';

export type CosServer = PartServer<CosEmulator>;

/** Runs the Cos emulator alone on 127.0.0.1 (port 0 = any free port). */
export function startCosServer(opts: CosEmulatorOptions & { port?: number }): Promise<CosServer> {
  return servePart(new CosEmulator(opts), opts.port);
}
