// The memory destination: the port's contract, the shared suite (test/helpers/destination-contract.ts,
// which the COS and S3 adapters over the emulator meet too) and ours on multipart refusals, and its own
// fault hooks and strictness.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { describe, it } from 'node:test';
import { policyOf } from '../../src/core/error-policy.js';
import { Cdb2cosError } from '../../src/errors.js';
import { crc64OfBuffer, crc64ToString } from '../../src/hash/crc64.js';
import { MemoryDestination } from '../helpers/memory-destination.js';
import { destinationContract } from '../helpers/destination-contract.js';
import { multipartContract, patterned } from './destination-contract.js';

const memoryCrc64 = (): MemoryDestination => new MemoryDestination({ prefix: 'bk/', minPartSize: 64 * 1024 });
const memoryMd5 = (): MemoryDestination => new MemoryDestination({ kind: 's3', checksum: 'md5', minPartSize: 64 * 1024 });
destinationContract('memory, checksum crc64', async () => ({ dest: memoryCrc64(), close: async () => undefined }));
destinationContract('memory, checksum md5', async () => ({ dest: memoryMd5(), close: async () => undefined }));
multipartContract('memory, checksum crc64', async () => ({ dest: memoryCrc64() }));
multipartContract('memory, checksum md5', async () => ({ dest: memoryMd5() }));

const crcOf = async (b: Buffer): Promise<string> => crc64ToString(await crc64OfBuffer(b));
const md5B64 = (b: Buffer): string => createHash('md5').update(b).digest('base64');

async function caught(p: Promise<unknown>): Promise<Cdb2cosError> {
  const err = await p.then(() => assert.fail('expected a failure'), (e: unknown) => e);
  assert.ok(err instanceof Cdb2cosError, String(err));
  return err;
}

describe('MemoryDestination', () => {
  it('in md5 mode answers with no CRC-64, on replies and HEAD alike', async () => {
    const d = new MemoryDestination({ checksum: 'md5' });
    const r = await d.putObject('k', Buffer.from('abc'), 3, {});
    assert.equal(r.crc64, undefined);
    assert.equal((await d.headObject('k'))?.crc64, undefined);
  });

  it('does not pretend to check CRC-64/NVME: that mode is refused, and so is a CRC-64/NVME sent to it', async () => {
    assert.throws(() => new MemoryDestination({ checksum: 'crc64nvme' }), /crc64nvme/);
    const d = new MemoryDestination();
    await assert.rejects(d.putObject('k', Buffer.from('abc'), 3, {}, { crc64nvme: 'AAAAAAAAAAA=' }), TypeError);
  });

  it('a part corrupted in transit is stored corrupt, and its reply carries the CRC-64 of what was stored, not of what was sent', async () => {
    const d = new MemoryDestination({ minPartSize: 10 });
    const body = patterned(4096, 1);
    d.corrupt({ op: 'uploadPart', partNumber: 2 });
    const id = await d.initUpload('k', {});
    const r1 = await d.uploadPart('k', id, 1, Readable.from([body]), body.length);
    const r2 = await d.uploadPart('k', id, 2, Readable.from([body]), body.length);
    assert.equal(r1.crc64, await crcOf(body));
    assert.notEqual(r2.crc64, await crcOf(body));
    // Only once: the part sent again arrives whole.
    const again = await d.uploadPart('k', id, 2, Readable.from([body]), body.length);
    assert.equal(again.crc64, await crcOf(body));
    assert.equal(d.count({ op: 'uploadPart', partNumber: 2 }), 2);
  });

  it('a corrupted part sent with Content-MD5 is refused with BadDigest, which the policy reads as the destination’s (staged copy kept)', async () => {
    const d = new MemoryDestination();
    const body = patterned(1000, 2);
    d.corrupt({ op: 'uploadPart' });
    const id = await d.initUpload('k', {});
    const err = await caught(d.uploadPart('k', id, 1, Readable.from([body]), body.length, { md5Base64: md5B64(body) }));
    assert.equal(err.code, 'ERR_VERIFY');
    assert.equal(err.serviceCode, 'BadDigest');
    assert.equal(err.origin, 'destination');
    assert.deepEqual(policyOf(err), { severity: 'item', stopsRun: false, keepStaged: true });
    assert.deepEqual(d.openUploads(), [{ key: 'k', uploadId: id, parts: [] }]);
  });

  it('a lost Complete reply: the object exists, the retry meets NoSuchUpload, HEAD tells it is ours', async () => {
    const d = new MemoryDestination();
    const body = patterned(3000, 3);
    const id = await d.initUpload('k', {});
    const r = await d.uploadPart('k', id, 1, Readable.from([body]), body.length);
    d.dropReply({ op: 'complete' });
    const lost = await caught(d.complete('k', id, [{ partNumber: 1, etag: r.etag }]));
    assert.equal(lost.code, 'ERR_NETWORK');
    assert.equal(lost.retryable, true);
    const again = await caught(d.complete('k', id, [{ partNumber: 1, etag: r.etag }]));
    assert.equal(again.serviceCode, 'NoSuchUpload');
    const head = await d.headObject('k');
    assert.equal(head?.size, body.length);
    assert.equal(head?.crc64, await crcOf(body));
  });

  it('hold() lets a call take effect and keeps its reply until released', async () => {
    const d = new MemoryDestination();
    const held = d.hold({ op: 'putObject', key: 'k' });
    let replied = false;
    const put = d.putObject('k', Buffer.from('abc'), 3, {}).then((r) => {
      replied = true;
      return r;
    });
    await held.reached;
    assert.equal(d.object('k')?.body.toString(), 'abc', 'stored before the reply');
    await new Promise((r) => setImmediate(r));
    assert.equal(replied, false);
    held.release();
    assert.equal((await put).crc64, await crcOf(Buffer.from('abc')));
    // Only the one call: the next is not held.
    await d.putObject('k', Buffer.from('x'), 1, {});
  });

  it('fail() throws the given error for N matching calls before anything happens, then the call works', async () => {
    const d = new MemoryDestination();
    const throttled = (): Cdb2cosError => new Cdb2cosError('ERR_THROTTLED', 'SlowDown', { retryable: true, serviceCode: 'SlowDown' });
    d.fail({ op: 'putObject', key: 'a' }, throttled, 2);
    for (let i = 0; i < 2; i++) assert.equal((await caught(d.putObject('a', Buffer.from('x'), 1, {}))).serviceCode, 'SlowDown');
    assert.equal(d.object('a'), undefined);
    await d.putObject('b', Buffer.from('y'), 1, {});
    await d.putObject('a', Buffer.from('x'), 1, {});
    assert.equal(d.object('a')?.body.toString(), 'x');
    assert.deepEqual(d.calls.map((c) => `${c.op} ${c.key}`), ['putObject a', 'putObject a', 'putObject b', 'putObject a']);
  });

  it('refuses a body shorter than its declared size (IncompleteBody) and a part number out of range', async () => {
    const d = new MemoryDestination({ maxParts: 3 });
    assert.equal((await caught(d.putObject('k', Readable.from([Buffer.from('abc')]), 4, {}))).serviceCode, 'IncompleteBody');
    const id = await d.initUpload('k', {});
    for (const n of [0, 4, 1.5]) assert.equal((await caught(d.uploadPart('k', id, n, Readable.from([Buffer.from('a')]), 1))).serviceCode, 'InvalidArgument');
    // An upload id is bound to its key.
    assert.equal((await caught(d.uploadPart('other', id, 1, Readable.from([Buffer.from('a')]), 1))).serviceCode, 'NoSuchUpload');
  });

  it('keeps metadata as headers can: lower-cased names, printable ASCII values, 2 KB in all', async () => {
    const d = new MemoryDestination();
    await d.putObject('k', Buffer.from('a'), 1, { 'CDB2COS-Size': '1' });
    assert.deepEqual((await d.headObject('k'))?.meta, { 'cdb2cos-size': '1' });
    assert.equal((await caught(d.putObject('k', Buffer.from('a'), 1, { n: 'naïve' }))).serviceCode, 'InvalidArgument');
    assert.equal((await caught(d.initUpload('k', { 'a b': 'x' }))).serviceCode, 'InvalidArgument');
    assert.equal((await caught(d.putObject('k', Buffer.from('a'), 1, { big: 'x'.repeat(2100) }))).serviceCode, 'MetadataTooLarge');
  });

  it('a bucket that is gone: probe is a config error, any other call NoSuchBucket, which stops the run', async () => {
    const d = new MemoryDestination();
    d.bucketExists = false;
    const probe = await caught(d.probe());
    assert.equal(probe.code, 'ERR_CONFIG');
    const put = await caught(d.putObject('k', Buffer.from('a'), 1, {}));
    assert.equal(put.serviceCode, 'NoSuchBucket');
    assert.deepEqual(policyOf(put), { severity: 'config', stopsRun: true, keepStaged: true });
    d.bucketExists = true;
    d.denied = true;
    const denied = await caught(d.headObject('k'));
    assert.equal(denied.code, 'ERR_PERMISSION');
    assert.equal(policyOf(denied).severity, 'auth');
  });

  it('pages its listings as the services do (1000 a page unless told otherwise)', async () => {
    const d = new MemoryDestination({ pageSize: 2 });
    for (const k of ['p/1', 'p/2', 'p/3', 'q/1']) d.seed(k, k);
    assert.deepEqual(await d.listObjects('p/').then((r) => [r.objects.length, r.pages]), [3, 2]);
    assert.deepEqual(await d.listObjects('z/').then((r) => [r.objects.length, r.pages]), [0, 1]);
  });

  it('gives whole-second Initiated times, so a run’s orphan window is measured as on COS', async () => {
    let now = Date.parse('2026-11-30T12:00:00.750Z');
    const d = new MemoryDestination({ now: () => now });
    await d.initUpload('k', {});
    now += 1000;
    await d.initUpload('k', {});
    assert.deepEqual((await d.listUploads('k')).map((u) => u.initiated), ['2026-11-30T12:00:00.000Z', '2026-11-30T12:00:01.000Z']);
  });
});
