// Staging part by part (src/transfer/item-copy.ts): a multipart item's parts each have a file, removed
// once every destination holds the part; the state keeps their hashes (`released`), and a released part
// is fetched again only when a destination needs its bytes anew. Each test checks what landed byte for
// byte and what was fetched from the source, part by part.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readdir, rm } from 'node:fs/promises';
import { describe, it } from 'node:test';
import { Cdb2cosError } from '../../src/errors.js';
import { crc64OfBuffer, crc64ToString } from '../../src/hash/crc64.js';
import { partPath, stagedPaths } from '../../src/transfer/staging.js';
import type { CatalogItem } from '../../src/types.js';
import { copyHarness, MiB, type CopyHarness } from './copy-harness.js';
import { patterned } from './destination-contract.js';

// Four parts of 1 MiB: 1 MiB, 1 MiB, 1 MiB and 12,345 bytes.
const BODY = patterned(3 * MiB + 12_345, 31);

async function landed(h: CopyHarness, item: CatalogItem, body: Buffer, dest = h.dest): Promise<void> {
  const o = dest.object(`${dest.prefix}${item.instance}/${item.type}/${item.name}`);
  assert.ok(o, 'the object is in the destination');
  assert.ok(o.body.equals(body), 'the object holds the source’s bytes');
  assert.equal(o.crc64, crc64ToString(await crc64OfBuffer(body)));
}

/** The part files staged for an item now. */
async function partFiles(h: CopyHarness, item: CatalogItem): Promise<string[]> {
  return (await readdir(stagedPaths(h.stagingDir, item).data).catch(() => [] as string[])).sort();
}

/** Ranged GETs of the item's file the source served for part n (1 MiB parts). */
function fetchesOf(h: CopyHarness, n: number): number {
  return h.source.requests.filter((q) => q.status === 206 && q.range?.startsWith(`bytes=${(n - 1) * MiB}-`)).length;
}

/**
 * Runs a copy until the destination holds parts 1–3 (their files released) and has stored part 4, then
 * stops it as SIGTERM would, with part 4's reply lost: part 4 stays staged, not recorded as held.
 */
async function stopBeforePart4Recorded(h: CopyHarness, item: CatalogItem): Promise<void> {
  const sig = new AbortController();
  const hold = h.dest.hold({ op: 'uploadPart', partNumber: 4 });
  const copy = h.copy(item, { signal: sig.signal, connections: 1 });
  await hold.reached;
  for (const t0 = Date.now(); (await partFiles(h, item)).join() !== 'part-4'; ) {
    assert.ok(Date.now() - t0 < 5000, `parts 1–3 released: ${(await partFiles(h, item)).join()}`);
    await new Promise((r) => setTimeout(r, 5));
  }
  h.dest.dropReply({ op: 'uploadPart', partNumber: 4 }, 1000);
  sig.abort(new Cdb2cosError('ERR_ABORTED', 'stopped by SIGTERM'));
  hold.release();
  await copy.then(
    () => assert.fail('the copy was expected to stop'),
    () => undefined,
  );
  h.dest.clearFaults();
}

describe('staged part by part', () => {
  it('each part’s file goes once the destination holds it: before Complete none is left, and the state keeps every part’s CRC-64', async (t) => {
    const h = await copyHarness(t, { units: { u: [{ type: 'data', name: 'p.xb', body: BODY }] } });
    const item = await h.item('u', 'p.xb');
    const complete = h.dest.hold({ op: 'complete' });
    const copy = h.copy(item);
    await complete.reached;
    assert.deepEqual(await partFiles(h, item), [], 'no part file left once every part is held');
    const st = await h.state(item);
    assert.deepEqual(Object.keys(st!.downloaded).sort(), ['1', '2', '3', '4']);
    for (const p of Object.values(st!.downloaded)) {
      assert.equal(p.released, true);
      assert.match(p.crc64, /^\d+$/);
    }
    complete.release();
    await copy;
    await landed(h, item, BODY);
    assert.equal(existsSync(stagedPaths(h.stagingDir, item).data), false, 'the staged folder is gone');
    for (const n of [1, 2, 3, 4]) assert.equal(fetchesOf(h, n), 1, `part ${n} fetched once`);
    assert.ok(!h.logs.some((l) => l.msg === 'part fetched again'));
  });

  it('a copy stopped after three parts were held resumes from the destination’s upload: released parts are not fetched again', async (t) => {
    const h = await copyHarness(t, { units: { u: [{ type: 'data', name: 'r.xb', body: BODY }] } });
    const item = await h.item('u', 'r.xb');
    await stopBeforePart4Recorded(h, item);
    const st = await h.state(item);
    assert.deepEqual([1, 2, 3].map((n) => st!.downloaded[n]?.released), [true, true, true], 'the parts the destination held were released');
    assert.deepEqual(await partFiles(h, item), ['part-4'], 'only the part not yet held is on disk');

    const res = await h.copy(item);
    await landed(h, item, BODY);
    assert.equal(res.bytesDownloaded, 0, 'nothing fetched again: part 4 was staged, parts 1–3 are held');
    assert.equal(h.dest.count({ op: 'uploadPart', partNumber: 1 }), 1, 'part 1 not sent again');
    assert.equal(h.dest.count({ op: 'initUpload' }), 1, 'the same upload was completed');
    assert.ok(!h.logs.some((l) => l.msg === 'part fetched again'));
  });

  it('the destination lost the upload: the released parts are fetched again, each once, and the object lands identical', async (t) => {
    const h = await copyHarness(t, { units: { u: [{ type: 'data', name: 'l.xb', body: BODY }] } });
    const item = await h.item('u', 'l.xb');
    await stopBeforePart4Recorded(h, item);
    const st = await h.state(item);
    // Aborted behind our back (a lifecycle rule, another tool): ListParts now answers NoSuchUpload.
    await h.dest.abort(h.key(item), st!.uploadId!);

    const res = await h.copy(item);
    await landed(h, item, BODY);
    assert.equal(res.bytesDownloaded, 3 * MiB, 'parts 1–3 fetched again, part 4 sent from its file');
    for (const n of [1, 2, 3]) assert.equal(fetchesOf(h, n), 2, `part ${n}: fetched twice in all`);
    assert.equal(fetchesOf(h, 4), 1);
    assert.deepEqual(
      h.logs.filter((l) => l.msg === 'part fetched again').map((l) => [l['part'], l['why']]),
      [
        [1, 'released'],
        [2, 'released'],
        [3, 'released'],
      ],
    );
    assert.equal(existsSync(stagedPaths(h.stagingDir, item).data), false);
  });

  it('released parts fetched again from a source that changed since (no checksum to tell): the item fails as changed, nothing mixed lands', async (t) => {
    const h = await copyHarness(t, { units: { u: [{ type: 'data', name: 'ch.xb', body: BODY }] }, sendCrc64: false });
    const item = await h.item('u', 'ch.xb');
    await stopBeforePart4Recorded(h, item);
    const st = await h.state(item);
    await h.dest.abort(h.key(item), st!.uploadId!);
    // Same name and size, other bytes: nothing but the parts' own CRC-64 can tell.
    await h.source.change('u', 'data', 'ch.xb', patterned(BODY.length, 32));
    const err = await h.copy(item).then(
      () => assert.fail('expected the copy to fail'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof Cdb2cosError && err.code === 'ERR_SOURCE_CHANGED' && /part \d fetched again has CRC-64/.test(err.message), String(err));
    assert.equal(h.dest.object(h.key(item)), undefined, 'nothing stored');
    assert.equal((await h.state(item))?.uploadId, undefined, 'no upload left recorded');
  });

  it('a part recorded staged whose file is gone at resume (disk trouble, a hand) is fetched again, never sent from nothing', async (t) => {
    const h = await copyHarness(t, { units: { u: [{ type: 'data', name: 'm.xb', body: BODY }] } });
    const item = await h.item('u', 'm.xb');
    await stopBeforePart4Recorded(h, item);
    await rm(partPath(stagedPaths(h.stagingDir, item).data, 4));
    const res = await h.copy(item);
    await landed(h, item, BODY);
    assert.equal(res.bytesDownloaded, 12_345, 'part 4 fetched again');
    assert.ok(h.logs.some((l) => l.msg === 'staged part missing; fetched again' && l['part'] === 4));
  });

  it('two destinations, one failing on part 2: its parts stay staged for its next run, which sends them without fetching', async (t) => {
    const h = await copyHarness(t, { units: { u: [{ type: 'data', name: 'two.xb', body: BODY }] } }, [{ prefix: 'a/', kind: 'cos' }, { prefix: 'b/', kind: 's3' }]);
    const item = await h.item('u', 'two.xb');
    const [a, b] = h.dests as [CopyHarness['dest'], CopyHarness['dest']];
    b.fail({ op: 'uploadPart', partNumber: 2 }, () => new Cdb2cosError('ERR_REQUEST', 'InvalidArgument: refused'), 1000);
    const first = await h.copy(item);
    assert.equal(first.failed.length, 1, 'b failed');
    await landed(h, item, BODY, a);
    const st = await h.state(item);
    assert.ok(st!.downloaded[2] && st!.downloaded[2].released !== true, 'part 2, which b lacks, keeps its file');
    assert.ok((await partFiles(h, item)).includes('part-2'));

    b.clearFaults();
    h.dests.splice(0, 1); // the next run has only b left to copy it to
    const again = await h.copy(item);
    await landed(h, item, BODY, b);
    assert.equal(again.failed.length, 0);
    assert.equal(fetchesOf(h, 2), 1, 'part 2 was sent from its staged file');
  });

  it('a source without a CRC-64: the in-order MD5 pass reads every part before its file goes, and the listed MD5 is checked', async (t) => {
    const h = await copyHarness(t, { units: { u: [{ type: 'data', name: 'md5.xb', body: BODY, md5: true }] }, sendCrc64: false });
    const item = await h.item('u', 'md5.xb');
    const complete = h.dest.hold({ op: 'complete' });
    const copy = h.copy(item);
    await complete.reached;
    assert.deepEqual(await partFiles(h, item), [], 'every part released once read by the MD5 pass and held');
    complete.release();
    const res = await copy;
    await landed(h, item, BODY);
    assert.equal(res.bytesDownloaded, BODY.length, 'each byte fetched once');
    assert.ok(!h.logs.some((l) => l.msg === 'part fetched again'));
  });

  it('a listed MD5 that differs fails the item even though the parts were released', async (t) => {
    const h = await copyHarness(t, { units: { u: [{ type: 'data', name: 'bad.xb', body: BODY, md5: '0123456789abcdef0123456789abcdef' }] }, sendCrc64: false });
    const item = await h.item('u', 'bad.xb');
    const err = await h.copy(item).then(
      () => assert.fail('expected the MD5 check to fail'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof Cdb2cosError && err.code === 'ERR_VERIFY' && /MD5/.test(err.message), String(err));
    assert.equal(h.dest.object(h.key(item)), undefined, 'nothing stored');
  });
});
