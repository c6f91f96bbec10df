// The destination contract: what every Destination must do, asked through the port only. Run against
// the memory fake (memory-destination.test.ts) and against the COS adapter over the COS emulator
// (cos-destination-contract.test.ts), so the fake stays as strict as what it stands in for.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { describe, it, type TestContext } from 'node:test';
import type { Destination } from '../../src/destinations/destination.js';
import { Cdb2cosError } from '../../src/errors.js';
import { crc64Combine, crc64OfBuffer, crc64ToString } from '../../src/hash/crc64.js';

export interface ContractTarget {
  dest: Destination;
}

/** A fresh, empty destination for one test; cleaned up by the test context. */
export type ContractFactory = (t: TestContext) => Promise<ContractTarget>;

const md5Hex = (b: Buffer): string => createHash('md5').update(b).digest('hex');
const md5B64 = (b: Buffer): string => createHash('md5').update(b).digest('base64');
const crcOf = async (b: Buffer): Promise<string> => crc64ToString(await crc64OfBuffer(b));
const bare = (etag: string): string => etag.replace(/"/g, '').toLowerCase();

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

export function destinationContract(name: string, make: ContractFactory): void {
  describe(`destination contract: ${name}`, () => {
    it('stores an object with its metadata: HEAD gives size, the MD5 ETag, the CRC-64 (crc64 mode) and the metadata; GET and ranges give the bytes', async (t) => {
      const { dest } = await make(t);
      const body = patterned(70_000, 3);
      const reply = await dest.putObject(`${dest.prefix}a/one.xb`, Readable.from([body]), body.length, { 'cdb2cos-size': String(body.length), 'cdb2cos-backup-id': 'x%2Fy' });
      assert.equal(bare(reply.etag), md5Hex(body));
      const head = await dest.headObject(`${dest.prefix}a/one.xb`);
      assert.ok(head);
      assert.equal(head.size, body.length);
      assert.equal(bare(head.etag), md5Hex(body));
      assert.equal(head.meta['cdb2cos-size'], String(body.length));
      assert.equal(head.meta['cdb2cos-backup-id'], 'x%2Fy');
      if (dest.checksum === 'crc64') {
        assert.equal(reply.crc64, await crcOf(body));
        assert.equal(head.crc64, await crcOf(body));
      }
      const chunks: Buffer[] = [];
      const n = await dest.readObjectRange(`${dest.prefix}a/one.xb`, 1000, 65_999, (c) => chunks.push(c));
      assert.equal(n, 65_000);
      assert.ok(Buffer.concat(chunks).equals(body.subarray(1000, 66_000)));
      assert.equal(await dest.headObject(`${dest.prefix}a/none.xb`), undefined);
      assert.equal(await dest.getObjectText(`${dest.prefix}a/none.json`), undefined);
      await dest.putText(`${dest.prefix}.m/a.json`, '{"v":1}');
      assert.equal(await dest.getObjectText(`${dest.prefix}.m/a.json`), '{"v":1}');
    });

    it('lists objects under a prefix only, and deleting (even what is not there) succeeds', async (t) => {
      const { dest } = await make(t);
      for (const k of ['a/1', 'a/2', 'ab/3', 'b/4']) await dest.putObject(`${dest.prefix}${k}`, Buffer.from(k), k.length, {});
      const { objects, pages } = await dest.listObjects(`${dest.prefix}a/`);
      assert.deepEqual(objects.map((o) => o.key), [`${dest.prefix}a/1`, `${dest.prefix}a/2`]);
      assert.equal(pages, 1);
      assert.equal(objects[0]!.size, 3);
      assert.equal(bare(objects[0]!.etag), md5Hex(Buffer.from('a/1')));
      await dest.deleteObject(`${dest.prefix}a/1`);
      await dest.deleteObject(`${dest.prefix}a/1`);
      assert.deepEqual((await dest.listObjects(`${dest.prefix}a/`)).objects.map((o) => o.key), [`${dest.prefix}a/2`]);
    });

    it('a multipart upload: part ETags are their MD5, Complete makes the concatenation with an "md5-N" ETag and the combined CRC-64', async (t) => {
      const { dest } = await make(t);
      const key = `${dest.prefix}m/big.xb`;
      const p1 = patterned(dest.minPartSize, 5);
      const p2 = patterned(dest.minPartSize, 6);
      const p3 = patterned(1234, 7);
      const id = await dest.initUpload(key, { 'cdb2cos-type': 'data' });
      assert.deepEqual((await dest.listUploads(`${dest.prefix}m/`)).map((u) => [u.key, u.uploadId]), [[key, id]]);
      // Out of order on purpose: a part's number, not its arrival, places it.
      const r3 = await dest.uploadPart(key, id, 3, Readable.from([p3]), p3.length);
      const r1 = await dest.uploadPart(key, id, 1, Readable.from([p1]), p1.length);
      const r2 = await dest.uploadPart(key, id, 2, Readable.from([p2]), p2.length, { md5Base64: md5B64(p2) });
      for (const [r, p] of [[r1, p1], [r2, p2], [r3, p3]] as const) {
        assert.equal(bare(r.etag), md5Hex(p));
        if (dest.checksum === 'crc64') assert.equal(r.crc64, await crcOf(p));
      }
      assert.deepEqual((await dest.listParts(key, id)).map((p) => [p.partNumber, bare(p.etag), p.size]), [
        [1, md5Hex(p1), p1.length],
        [2, md5Hex(p2), p2.length],
        [3, md5Hex(p3), p3.length],
      ]);
      const done = await dest.complete(key, id, [
        { partNumber: 1, etag: r1.etag },
        { partNumber: 2, etag: r2.etag },
        { partNumber: 3, etag: r3.etag },
      ]);
      const whole = Buffer.concat([p1, p2, p3]);
      const md5s = createHash('md5').update(Buffer.concat([p1, p2, p3].map((p) => createHash('md5').update(p).digest()))).digest('hex');
      assert.equal(bare(done.etag), `${md5s}-3`);
      const head = await dest.headObject(key);
      assert.equal(head?.size, whole.length);
      assert.equal(head?.meta['cdb2cos-type'], 'data');
      if (dest.checksum === 'crc64') {
        let crc = 0n;
        for (const p of [p1, p2, p3]) crc = crc64Combine(crc, await crc64OfBuffer(p), p.length);
        assert.equal(done.crc64, crc64ToString(crc));
        assert.equal(head?.crc64, await crcOf(whole));
      }
      const got: Buffer[] = [];
      await dest.readObjectRange(key, 0, whole.length - 1, (c) => got.push(c));
      assert.ok(Buffer.concat(got).equals(whole));
      assert.deepEqual(await dest.listUploads(`${dest.prefix}m/`), []);
    });

    it('refuses a Complete whose parts are out of order (InvalidPartOrder), unknown (InvalidPart) or too small but the last (EntityTooSmall); the upload stays open', async (t) => {
      const { dest } = await make(t);
      const key = `${dest.prefix}m/refused.xb`;
      const big = patterned(dest.minPartSize, 8);
      const small = patterned(100, 9);
      const id = await dest.initUpload(key, {});
      const r1 = await dest.uploadPart(key, id, 1, Readable.from([small]), small.length);
      const r2 = await dest.uploadPart(key, id, 2, Readable.from([big]), big.length);
      await rejectsWith(dest.complete(key, id, [{ partNumber: 2, etag: r2.etag }, { partNumber: 1, etag: r1.etag }]), 'ERR_REQUEST', 'InvalidPartOrder');
      await rejectsWith(dest.complete(key, id, [{ partNumber: 1, etag: r1.etag }, { partNumber: 1, etag: r1.etag }]), 'ERR_REQUEST', 'InvalidPartOrder');
      await rejectsWith(dest.complete(key, id, [{ partNumber: 1, etag: r1.etag }, { partNumber: 4, etag: r2.etag }]), 'ERR_REQUEST', 'InvalidPart');
      await rejectsWith(dest.complete(key, id, [{ partNumber: 1, etag: r2.etag }]), 'ERR_REQUEST', 'InvalidPart');
      await rejectsWith(dest.complete(key, id, [{ partNumber: 1, etag: r1.etag }, { partNumber: 2, etag: r2.etag }]), 'ERR_REQUEST', 'EntityTooSmall');
      assert.equal(await dest.headObject(key), undefined);
      assert.equal((await dest.listParts(key, id)).length, 2);
      // The last part may be small; a Complete naming only some parts is fine and drops the others.
      const r3 = await dest.uploadPart(key, id, 3, Readable.from([small]), small.length);
      await dest.complete(key, id, [{ partNumber: 2, etag: r2.etag }, { partNumber: 3, etag: r3.etag }]);
      assert.equal((await dest.headObject(key))?.size, big.length + small.length);
    });

    it('answers NoSuchUpload (ERR_NOT_FOUND) for an upload aborted or completed; aborting it again succeeds', async (t) => {
      const { dest } = await make(t);
      const key = `${dest.prefix}m/gone.xb`;
      const body = patterned(10, 10);
      const aborted = await dest.initUpload(key, {});
      await dest.uploadPart(key, aborted, 1, Readable.from([body]), body.length);
      await dest.abort(key, aborted);
      await rejectsWith(dest.uploadPart(key, aborted, 2, Readable.from([body]), body.length), 'ERR_NOT_FOUND', 'NoSuchUpload');
      await rejectsWith(dest.listParts(key, aborted), 'ERR_NOT_FOUND', 'NoSuchUpload');
      await rejectsWith(dest.complete(key, aborted, [{ partNumber: 1, etag: `"${md5Hex(body)}"` }]), 'ERR_NOT_FOUND', 'NoSuchUpload');
      await dest.abort(key, aborted);
      const completed = await dest.initUpload(key, {});
      const r = await dest.uploadPart(key, completed, 1, Readable.from([body]), body.length);
      await dest.complete(key, completed, [{ partNumber: 1, etag: r.etag }]);
      // A Complete sent again (its reply lost) meets NoSuchUpload: the object tells what happened.
      await rejectsWith(dest.complete(key, completed, [{ partNumber: 1, etag: r.etag }]), 'ERR_NOT_FOUND', 'NoSuchUpload');
      await rejectsWith(dest.uploadPart(key, completed, 2, Readable.from([body]), body.length), 'ERR_NOT_FOUND', 'NoSuchUpload');
      assert.equal((await dest.headObject(key))?.size, body.length);
    });

    it('refuses a body whose Content-MD5 differs (BadDigest, ERR_VERIFY) and stores nothing', async (t) => {
      const { dest } = await make(t);
      const body = patterned(5000, 11);
      const wrong = md5B64(patterned(5000, 12));
      await rejectsWith(dest.putObject(`${dest.prefix}d/x`, Readable.from([body]), body.length, {}, { md5Base64: wrong }), 'ERR_VERIFY', 'BadDigest');
      assert.equal(await dest.headObject(`${dest.prefix}d/x`), undefined);
      const id = await dest.initUpload(`${dest.prefix}d/y`, {});
      await rejectsWith(dest.uploadPart(`${dest.prefix}d/y`, id, 1, Readable.from([body]), body.length, { md5Base64: wrong }), 'ERR_VERIFY', 'BadDigest');
      assert.deepEqual(await dest.listParts(`${dest.prefix}d/y`, id), []);
      const ok = await dest.uploadPart(`${dest.prefix}d/y`, id, 1, Readable.from([body]), body.length, { md5Base64: md5B64(body) });
      assert.equal(bare(ok.etag), md5Hex(body));
    });
  });
}
