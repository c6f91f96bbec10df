// Pure: what a failed item copy leaves behind. The bytes received were not the source's (its checksum,
// its MD5, or the source changed under the copy): nothing staged or uploaded is worth keeping. Anything
// else (a network failure, a destination that stored other bytes, an interrupted run) keeps the staged
// parts and the open uploads for the next run.
import { Cdb2cosError } from '../errors.js';

export function policyOfCopyFailure(err: unknown): { keepStaged: boolean } {
  if (err instanceof Cdb2cosError && (err.code === 'ERR_SOURCE_CHANGED' || (err.code === 'ERR_VERIFY' && err.origin === 'source'))) return { keepStaged: false };
  return { keepStaged: true };
}
