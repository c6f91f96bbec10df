// One item's copy (src/transfer/copy-item.ts) in this process: the memory source's HTTP server on
// 127.0.0.1 and the memory destination, no emulator and no CLI. Each test checks what landed byte for
// byte, and where the copy fails, that what it kept or discarded is what the error policy says.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { describe, it } from 'node:test';
import { policyOf } from '../../src/core/error-policy.js';
import { Cdb2cosError } from '../../src/errors.js';
import { crc64OfBuffer, crc64ToString } from '../../src/hash/crc64.js';
import { stagedPaths } from '../../src/transfer/staging.js';
import { copyHarness, MiB, type CopyHarness } from './copy-harness.js';
import { patterned } from './destination-contract.js';

const BODY = patterned(3 * MiB + 12_345, 21);

async function landed(h: CopyHarness, key: string, body: Buffer): Promise<void> {
  const o = h.dest.object(key);
  assert.ok(o, `${key} not in the destination`);
  assert.ok(o.body.equals(body), `${key}: other bytes than the source's`);
  assert.equal(o.crc64, crc64ToString(await crc64OfBuffer(body)));
}

async function failure(p: Promise<unknown>): Promise<unknown> {
  return p.then(() => assert.fail('the copy was expected to fail'), (e: unknown) => e);
}

describe('item copy against the memory fakes', () => {
  it('copies an item in parts: the object is the source’s bytes, the staged file is gone, the state says verified', async (t) => {
    const h = await copyHarness(t, { units: { 'cdb-1': [{ type: 'data', name: 'full.xb', body: BODY, md5: true }] } });
    const item = await h.item('cdb-1', 'full.xb');
    const res = await h.copy(item);
    await landed(h, h.key(item), BODY);
    assert.equal(res.parts, 4);
    assert.equal(res.bytesDownloaded, BODY.length);
    assert.equal(h.dest.object(h.key(item))?.parts, 4);
    assert.equal(h.dest.object(h.key(item))?.meta['cdb2cos-size'], String(BODY.length));
    assert.equal(existsSync(stagedPaths(h.stagingDir, item).data), false);
    assert.equal((await h.state(item))?.verified?.crc64, res.crc64);
    assert.deepEqual(h.dest.openUploads(), []);
  });

  it('a copy run again after it was verified (manifest not yet written) finds the object by HEAD and moves nothing', async (t) => {
    const h = await copyHarness(t, { units: { u: [{ type: 'binlog', name: 'bin.1', body: BODY }] } });
    const item = await h.item('u', 'bin.1');
    await h.copy(item);
    const again = await h.copy(item);
    assert.equal(again.bytesDownloaded, 0);
    assert.equal(again.bytesUploaded, 0);
    assert.equal(h.dest.count({ op: 'initUpload' }), 1);
    assert.ok(h.logs.some((l) => l.msg === 'verified copy found from an earlier run'));
  });

  it('resumes a copy interrupted by a signal: the staged parts and the open upload are kept, and the next run moves only the rest', async (t) => {
    const h = await copyHarness(t, { units: { u: [{ type: 'data', name: 'big.xb', body: BODY }] } });
    const item = await h.item('u', 'big.xb');
    const sig = new AbortController();
    let seen = 0;
    const err = await failure(
      h.copy(item, {
        signal: sig.signal,
        connections: 1,
        onDownloaded: (n) => {
          seen += n;
          if (seen > 2 * MiB && !sig.signal.aborted) sig.abort(new Cdb2cosError('ERR_ABORTED', 'stopped by SIGTERM'));
        },
      }),
    );
    assert.ok(sig.signal.aborted);
    assert.ok(err instanceof Cdb2cosError && err.code === 'ERR_ABORTED', String(err));
    assert.deepEqual(policyOf(err), { severity: 'interrupted', stopsRun: true, keepStaged: true });
    const st = await h.state(item);
    assert.ok(st?.uploadId, 'the open upload is recorded for the next run');
    assert.ok(Object.keys(st.downloaded).length >= 2, `parts staged: ${Object.keys(st.downloaded).join(',')}`);
    assert.equal(h.dest.object(h.key(item)), undefined);

    const res = await h.copy(item);
    await landed(h, h.key(item), BODY);
    assert.ok(res.partsResumed >= 2);
    assert.ok(res.bytesDownloaded < BODY.length, `downloaded again ${res.bytesDownloaded} of ${BODY.length}`);
    assert.equal(h.dest.count({ op: 'initUpload' }), 1, 'the same upload is finished, not a new one');
  });

  it('sends again a part the destination stored corrupt (its CRC-64 differs) and completes with the right bytes', async (t) => {
    const h = await copyHarness(t, { units: { u: [{ type: 'data', name: 'c.xb', body: BODY }] } });
    const item = await h.item('u', 'c.xb');
    h.dest.corrupt({ op: 'uploadPart', partNumber: 2 });
    await h.copy(item);
    await landed(h, h.key(item), BODY);
    assert.equal(h.dest.count({ op: 'uploadPart', partNumber: 2 }), 2);
    assert.equal(h.dest.count({ op: 'uploadPart', partNumber: 1 }), 1);
    assert.ok(h.logs.some((l) => l.msg === 'part failed verification; sending it again' && l['part'] === 2));
  });

  it('a lost Complete reply: the retried Complete meets NoSuchUpload and HEAD proves the object is this file', async (t) => {
    const h = await copyHarness(t, { units: { u: [{ type: 'data', name: 'l.xb', body: BODY }] } });
    const item = await h.item('u', 'l.xb');
    h.dest.dropReply({ op: 'complete' });
    const res = await h.copy(item);
    await landed(h, h.key(item), BODY);
    assert.equal(h.dest.count({ op: 'complete' }), 2);
    assert.equal(res.crc64, h.dest.object(h.key(item))?.crc64);
    assert.ok(h.logs.some((l) => l.msg === 'completed upload found'));
  });

  it('a part reply without a CRC-64: the part goes again with Content-MD5, whose ETag must be that MD5', async (t) => {
    const h = await copyHarness(t, { units: { u: [{ type: 'data', name: 'o.xb', body: BODY }] } });
    const item = await h.item('u', 'o.xb');
    h.dest.omitChecksum({ op: 'uploadPart', partNumber: 3 });
    await h.copy(item);
    await landed(h, h.key(item), BODY);
    assert.deepEqual(h.dest.calls.filter((c) => c.op === 'uploadPart' && c.partNumber === 3).map((c) => c.md5 === true), [false, true]);
    assert.ok(h.logs.some((l) => l.msg === 'part reply without crc64; sending it again with Content-MD5'));
  });

  it('a single-part item: one PUT, verified by the CRC-64 of its reply', async (t) => {
    const small = patterned(50_000, 22);
    const h = await copyHarness(t, { units: { u: [{ type: 'slowlog', name: 's.log', body: small }] } });
    const item = await h.item('u', 's.log');
    await h.copy(item);
    await landed(h, h.key(item), small);
    assert.equal(h.dest.count({ op: 'putObject' }), 1);
    assert.equal(h.dest.count({ op: 'initUpload' }), 0);
  });
});

describe('error policy in context: what the copy keeps is what the policy says', () => {
  it('the destination stores a part corrupt every time: ERR_VERIFY, the staged copy and the upload are kept (policy: keepStaged)', async (t) => {
    const h = await copyHarness(t, { units: { u: [{ type: 'data', name: 'v.xb', body: BODY }] } });
    const item = await h.item('u', 'v.xb');
    h.dest.corrupt({ op: 'uploadPart', partNumber: 3 }, 10);
    const err = await failure(h.copy(item));
    assert.ok(err instanceof Cdb2cosError && err.code === 'ERR_VERIFY', String(err));
    assert.deepEqual(policyOf(err), { severity: 'item', stopsRun: false, keepStaged: true });
    assert.ok(existsSync(stagedPaths(h.stagingDir, item).data));
    assert.ok((await h.state(item))?.uploadId);
    assert.equal(h.dest.openUploads().length, 1);
  });

  it('the file is gone at the source midway: ERR_SOURCE_CHANGED, staged data and upload discarded (policy: not kept)', async (t) => {
    const h = await copyHarness(t, { units: { u: [{ type: 'data', name: 'g.xb', body: BODY }] } });
    const item = await h.item('u', 'g.xb');
    let removed = false;
    const err = await failure(
      h.copy(item, {
        connections: 1,
        onDownloaded: () => {
          if (!removed) {
            removed = true;
            void h.source.remove('u', 'data', 'g.xb');
          }
        },
      }),
    );
    assert.ok(err instanceof Cdb2cosError && err.code === 'ERR_SOURCE_CHANGED', String(err));
    assert.equal(policyOf(err).keepStaged, false);
    const paths = stagedPaths(h.stagingDir, item);
    assert.equal(existsSync(paths.data), false);
    assert.equal(existsSync(paths.state), false);
    assert.deepEqual(h.dest.openUploads(), []);
  });

  it('the destination denies access: ERR_PERMISSION stops the run (policy), and what was staged is kept', async (t) => {
    const h = await copyHarness(t, { units: { u: [{ type: 'data', name: 'd.xb', body: BODY }] } });
    const item = await h.item('u', 'd.xb');
    h.dest.fail({ op: 'uploadPart', partNumber: 2 }, new Cdb2cosError('ERR_PERMISSION', 'AccessDenied', { serviceCode: 'AccessDenied' }), 10);
    const err = await failure(h.copy(item));
    assert.ok(err instanceof Cdb2cosError && err.code === 'ERR_PERMISSION', String(err));
    assert.deepEqual(policyOf(err), { severity: 'auth', stopsRun: true, keepStaged: true });
    assert.ok((await h.state(item))?.uploadId);
  });

  it('a download whose MD5 differs from the source’s: ERR_VERIFY of origin source, nothing staged or uploaded is kept (policy: not kept)', async (t) => {
    const body = patterned(200_000, 23);
    const h = await copyHarness(t, { units: { u: [{ type: 'data', name: 'm.xb', body, md5: '0'.repeat(32) }] }, sendCrc64: false });
    const item = await h.item('u', 'm.xb');
    const err = await failure(h.copy(item));
    assert.ok(err instanceof Cdb2cosError && err.code === 'ERR_VERIFY', String(err));
    assert.equal(err.origin, 'source');
    assert.deepEqual(policyOf(err), { severity: 'item', stopsRun: false, keepStaged: false });
    const paths = stagedPaths(h.stagingDir, item);
    assert.equal(existsSync(paths.data), false);
    assert.equal(existsSync(paths.state), false);
    assert.equal(h.dest.object(h.key(item)), undefined);
  });
});
