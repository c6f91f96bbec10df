// More of the destination contract, beyond test/helpers/destination-contract.ts (the shared suite): how a
// multipart upload's Complete is refused (InvalidPartOrder, InvalidPart, EntityTooSmall) leaving the
// upload open, a Complete naming only some parts, and NoSuchUpload once an upload is aborted or
// completed: what the item copy's resume and lost-reply handling rely on. Run against the memory fake
// (memory-destination.test.ts) and against the COS and S3 adapters over the emulator started in this
// process (destination-contract-emulator.test.ts), so the fake is no laxer than what it stands in for.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { describe, it, type TestContext } from 'node:test';
import type { Destination, SendChecks } from '../../src/destinations/destination.js';
import { Cdb2cosError } from '../../src/errors.js';
import { crc64NvmeCombine, crc64NvmeOf, crc64NvmeToBase64 } from '../../src/hash/crc64nvme.js';

export interface ContractTarget {
  dest: Destination;
}

/** A fresh, empty destination for one test; cleaned up by the test context. */
export type ContractFactory = (t: TestContext) => Promise<ContractTarget>;

const md5Hex = (b: Buffer): string => createHash('md5').update(b).digest('hex');
const md5B64 = (b: Buffer): string => createHash('md5').update(b).digest('base64');

/** Bytes that differ from offset to offset (a repeated pattern would hide a misplaced range). */
export function patterned(size: number, seed = 1): Buffer {
  const b = Buffer.allocUnsafe(size);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < size; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b[i] = x & 0xff;
  }
  return b;
}

/** What a well-behaved caller sends with a part: its Content-MD5, and its CRC-64/NVME where the destination checks one. */
function checksFor(dest: Destination, body: Buffer): SendChecks {
  return { md5Base64: md5B64(body), ...(dest.checksum === 'crc64nvme' ? { crc64nvme: crc64NvmeToBase64(crc64NvmeOf(body)) } : {}) };
}

/** What it sends with Complete: the full object's CRC-64/NVME (crc64nvme destinations only). */
function completeChecks(dest: Destination, parts: Buffer[]): SendChecks | undefined {
  if (dest.checksum !== 'crc64nvme' || parts.length === 0) return undefined;
  let crc = crc64NvmeOf(parts[0]!);
  for (const p of parts.slice(1)) crc = crc64NvmeCombine(crc, crc64NvmeOf(p), p.length);
  return { crc64nvme: crc64NvmeToBase64(crc) };
}

async function rejectsWith(p: Promise<unknown>, code: string, serviceCode?: string): Promise<Cdb2cosError> {
  const err = await p.then(
    () => assert.fail(`expected ${code}${serviceCode ? ` ${serviceCode}` : ''}, got success`),
    (e: unknown) => e,
  );
  assert.ok(err instanceof Cdb2cosError, `expected a Cdb2cosError, got ${String(err)}`);
  assert.equal(err.code, code, err.message);
  if (serviceCode !== undefined) assert.equal(err.serviceCode, serviceCode, err.message);
  return err;
}

export function multipartContract(name: string, make: ContractFactory): void {
  describe(`destination contract, multipart refusals and NoSuchUpload: ${name}`, () => {
    it('refuses a Complete whose parts are out of order (InvalidPartOrder), unknown (InvalidPart) or too small but the last (EntityTooSmall); the upload stays open', async (t) => {
      const { dest } = await make(t);
      const key = `${dest.prefix}m/refused.xb`;
      const big = patterned(dest.minPartSize, 8);
      const small = patterned(100, 9);
      const id = await dest.initUpload(key, {});
      const r1 = await dest.uploadPart(key, id, 1, Readable.from([small]), small.length, checksFor(dest, small));
      const r2 = await dest.uploadPart(key, id, 2, Readable.from([big]), big.length, checksFor(dest, big));
      await rejectsWith(dest.complete(key, id, [{ partNumber: 2, etag: r2.etag }, { partNumber: 1, etag: r1.etag }], completeChecks(dest, [big, small])), 'ERR_REQUEST', 'InvalidPartOrder');
      await rejectsWith(dest.complete(key, id, [{ partNumber: 1, etag: r1.etag }, { partNumber: 1, etag: r1.etag }], completeChecks(dest, [small, small])), 'ERR_REQUEST', 'InvalidPartOrder');
      await rejectsWith(dest.complete(key, id, [{ partNumber: 1, etag: r1.etag }, { partNumber: 4, etag: r2.etag }], completeChecks(dest, [small, big])), 'ERR_REQUEST', 'InvalidPart');
      await rejectsWith(dest.complete(key, id, [{ partNumber: 1, etag: r2.etag }], completeChecks(dest, [big])), 'ERR_REQUEST', 'InvalidPart');
      await rejectsWith(dest.complete(key, id, [{ partNumber: 1, etag: r1.etag }, { partNumber: 2, etag: r2.etag }], completeChecks(dest, [small, big])), 'ERR_REQUEST', 'EntityTooSmall');
      assert.equal(await dest.headObject(key), undefined);
      assert.equal((await dest.listParts(key, id)).length, 2);
      // The last part may be small; a Complete naming only some parts is fine and drops the others.
      const r3 = await dest.uploadPart(key, id, 3, Readable.from([small]), small.length, checksFor(dest, small));
      await dest.complete(key, id, [{ partNumber: 2, etag: r2.etag }, { partNumber: 3, etag: r3.etag }], completeChecks(dest, [big, small]));
      assert.equal((await dest.headObject(key))?.size, big.length + small.length);
    });

    it('answers NoSuchUpload (ERR_NOT_FOUND) for an upload aborted or completed; aborting it again succeeds', async (t) => {
      const { dest } = await make(t);
      const key = `${dest.prefix}m/gone.xb`;
      const body = patterned(10, 10);
      const aborted = await dest.initUpload(key, {});
      await dest.uploadPart(key, aborted, 1, Readable.from([body]), body.length, checksFor(dest, body));
      await dest.abort(key, aborted);
      await rejectsWith(dest.uploadPart(key, aborted, 2, Readable.from([body]), body.length, checksFor(dest, body)), 'ERR_NOT_FOUND', 'NoSuchUpload');
      await rejectsWith(dest.listParts(key, aborted), 'ERR_NOT_FOUND', 'NoSuchUpload');
      await rejectsWith(dest.complete(key, aborted, [{ partNumber: 1, etag: `"${md5Hex(body)}"` }], completeChecks(dest, [body])), 'ERR_NOT_FOUND', 'NoSuchUpload');
      await dest.abort(key, aborted);
      const completed = await dest.initUpload(key, {});
      const r = await dest.uploadPart(key, completed, 1, Readable.from([body]), body.length, checksFor(dest, body));
      await dest.complete(key, completed, [{ partNumber: 1, etag: r.etag }], completeChecks(dest, [body]));
      // A Complete sent again (its reply lost) meets NoSuchUpload: the object tells what happened.
      await rejectsWith(dest.complete(key, completed, [{ partNumber: 1, etag: r.etag }], completeChecks(dest, [body])), 'ERR_NOT_FOUND', 'NoSuchUpload');
      await rejectsWith(dest.uploadPart(key, completed, 2, Readable.from([body]), body.length, checksFor(dest, body)), 'ERR_NOT_FOUND', 'NoSuchUpload');
      assert.equal((await dest.headObject(key))?.size, body.length);
    });
  });
}
