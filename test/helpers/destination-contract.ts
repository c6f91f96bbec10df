// The destination contract: what the run may rely on from any Destination (src/destinations/destination.ts),
// asserted the same way against every adapter and fake, so the fakes stay honest and a new adapter shows
// at once what it does differently. Each test makes its own destination (fresh bucket or fresh keys)
// and closes it. The listing past 1000 objects is optional (`paging`: about a thousand small PUTs).
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { describe, it } from 'node:test';
import { Cdb2cosError } from '../../src/errors.js';
import { crc64ToString, newCrc64 } from '../../src/hash/crc64.js';
import { crc64NvmeCombine, crc64NvmeOf, crc64NvmeToBase64 } from '../../src/hash/crc64nvme.js';
import type { Destination, SendChecks } from '../../src/destinations/destination.js';

export interface ContractSubject {
  dest: Destination;
  close(): Promise<void>;
}

export interface ContractOptions {
  /** Also list past 1000 objects (slow: ~1000 PUTs). */
  paging?: boolean;
}

const md5b64 = (b: Uint8Array): string => createHash('md5').update(b).digest('base64');
const md5hex = (b: Uint8Array): string => createHash('md5').update(b).digest('hex');
const crc64 = (b: Uint8Array): string => {
  const h = newCrc64();
  h.update(b);
  return crc64ToString(h.digest());
};
/** An ETag's MD5 hex as the caller compares it: quotes off, any case (OSS answers upper-case hex). */
const unquote = (etag: string): string => etag.replace(/^"|"$/g, '').toLowerCase();

/** What a well-behaved caller sends with a body, for the checksum the destination speaks. */
function checksFor(dest: Destination, body: Uint8Array): SendChecks {
  return { md5Base64: md5b64(body), ...(dest.checksum === 'crc64nvme' ? { crc64nvme: crc64NvmeToBase64(crc64NvmeOf(body)) } : {}) };
}

async function readAll(dest: Destination, key: string, start: number, end: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  const n = await dest.readObjectRange(key, start, end, (c) => chunks.push(Buffer.from(c)));
  const out = Buffer.concat(chunks);
  assert.equal(n, out.length);
  return out;
}

async function refused(p: Promise<unknown>, codes: readonly string[], what: string): Promise<Cdb2cosError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof Cdb2cosError, `${what}: not a Cdb2cosError: ${String(err)}`);
    assert.ok(codes.includes(err.code), `${what}: ${err.code} (${err.message}), expected ${codes.join(' or ')}`);
    return err;
  }
  assert.fail(`${what}: accepted`);
}

/** Three parts of a multipart upload: two of exactly the minimum, a short last one. */
function threeParts(dest: Destination): Buffer[] {
  return [randomBytes(dest.minPartSize), randomBytes(dest.minPartSize), randomBytes(1234)];
}

export function destinationContract(name: string, make: () => Promise<ContractSubject>, opts: ContractOptions = {}): void {
  const use = async (fn: (dest: Destination) => Promise<void>): Promise<void> => {
    const s = await make();
    try {
      await fn(s.dest);
    } finally {
      await s.close();
    }
  };

  describe(`destination contract: ${name}`, () => {
    it('describes itself: kind, label without an endpoint, prefix ending in "/", limits', () =>
      use(async (dest) => {
        assert.ok(dest.kind === 'cos' || dest.kind === 's3');
        assert.match(dest.label, /^[a-z0-9]+:\/\/[^/:]+$/);
        assert.ok(dest.prefix === '' || dest.prefix.endsWith('/'));
        assert.ok(['crc64', 'crc64nvme', 'md5'].includes(dest.checksum));
        assert.ok(dest.minPartSize >= 64 * 1024 && dest.minPartSize <= 5 * 1024 * 1024);
        assert.equal(dest.maxParts, 10_000);
        await dest.probe();
      }));

    it('stores a PUT byte for byte: head, text, ranges, metadata; a missing key is undefined', () =>
      use(async (dest) => {
        const body = randomBytes(200_001);
        const meta = { 'cdb2cos-instance': 'cdb-contract1', 'cdb2cos-crc64': crc64(body), 'cdb2cos-size': String(body.length) };
        const reply = await dest.putObject('contract/a.bin', Readable.from([body.subarray(0, 70_000), body.subarray(70_000)]), body.length, meta, checksFor(dest, body));
        assert.equal(unquote(reply.etag), md5hex(body));
        const head = await dest.headObject('contract/a.bin');
        assert.ok(head);
        assert.equal(head.size, body.length);
        assert.equal(unquote(head.etag), md5hex(body));
        for (const [k, v] of Object.entries(meta)) assert.equal(head.meta[k], v, `meta ${k}`);
        assert.deepEqual(await readAll(dest, 'contract/a.bin', 0, body.length - 1), body);
        assert.deepEqual(await readAll(dest, 'contract/a.bin', 65_535, 131_072), body.subarray(65_535, 131_073));
        await dest.putText('contract/manifest.json', '{"ü":1}');
        assert.equal(await dest.getObjectText('contract/manifest.json'), '{"ü":1}');
        // A Buffer body, and an empty one.
        await dest.putObject('contract/empty', Buffer.alloc(0), 0, {}, checksFor(dest, Buffer.alloc(0)));
        assert.equal((await dest.headObject('contract/empty'))?.size, 0);
        assert.equal(await dest.headObject('contract/missing'), undefined);
        assert.equal(await dest.getObjectText('contract/missing'), undefined);
        const { objects } = await dest.listObjects('contract/');
        assert.deepEqual(objects.map((o) => o.key), ['contract/a.bin', 'contract/empty', 'contract/manifest.json']);
        assert.equal(objects[0]?.size, body.length);
        assert.ok(!Number.isNaN(Date.parse(objects[0]?.lastModified ?? '')));
        await dest.deleteObject('contract/a.bin');
        assert.equal(await dest.headObject('contract/a.bin'), undefined);
        assert.deepEqual((await dest.listObjects('contract/')).objects.map((o) => o.key), ['contract/empty', 'contract/manifest.json']);
      }));

    it('refuses a body whose Content-MD5 differs', () =>
      use(async (dest) => {
        const body = randomBytes(1000);
        const wrong = { ...checksFor(dest, body), md5Base64: md5b64(Buffer.from('something else')) };
        await refused(dest.putObject('contract/bad-md5', body, body.length, {}, wrong), ['ERR_VERIFY'], 'PUT with a wrong Content-MD5');
        assert.equal(await dest.headObject('contract/bad-md5'), undefined);
        const id = await dest.initUpload('contract/bad-md5-part', {});
        const part = randomBytes(2000);
        await refused(dest.uploadPart('contract/bad-md5-part', id, 1, Readable.from([part]), part.length, { md5Base64: md5b64(body) }), ['ERR_VERIFY'], 'part with a wrong Content-MD5');
        assert.deepEqual(await dest.listParts('contract/bad-md5-part', id), []);
        await dest.abort('contract/bad-md5-part', id);
      }));

    it('assembles a 3-part multipart upload in order; lists its parts and itself while open', () =>
      use(async (dest) => {
        const key = 'contract/multi.bin';
        const parts = threeParts(dest);
        const whole = Buffer.concat(parts);
        const id = await dest.initUpload(key, { 'cdb2cos-instance': 'cdb-contract1' });
        const etags: string[] = [];
        // Uploaded out of order: only Complete's order matters.
        for (const n of [2, 1, 3]) {
          const body = parts[n - 1]!;
          const r = await dest.uploadPart(key, id, n, Readable.from([body]), body.length, checksFor(dest, body));
          assert.equal(unquote(r.etag), md5hex(body), `part ${n} ETag`);
          if (dest.checksum === 'crc64') assert.equal(r.crc64, crc64(body), `part ${n} CRC-64`);
          etags[n - 1] = r.etag;
        }
        const listed = await dest.listParts(key, id);
        assert.deepEqual(listed.map((p) => [p.partNumber, unquote(p.etag), p.size]), parts.map((p, i) => [i + 1, md5hex(p), p.length]));
        const open = await dest.listUploads('contract/');
        assert.deepEqual(open.filter((u) => u.key === key).map((u) => u.uploadId), [id]);
        assert.ok(!Number.isNaN(Date.parse(open[0]?.initiated ?? '')));
        const ordered = etags.map((etag, i) => ({ partNumber: i + 1, etag }));
        await refused(dest.complete(key, id, [ordered[1]!, ordered[0]!, ordered[2]!], fullChecks(dest, parts)), ['ERR_REQUEST'], 'Complete with parts out of order');
        const done = await dest.complete(key, id, ordered, fullChecks(dest, parts));
        if (dest.checksum === 'crc64') assert.equal(done.crc64, crc64(whole));
        const head = await dest.headObject(key);
        assert.equal(head?.size, whole.length);
        assert.equal(head?.meta['cdb2cos-instance'], 'cdb-contract1');
        if (dest.checksum === 'crc64') assert.equal(head?.crc64, crc64(whole));
        if (dest.checksum === 'crc64nvme') assert.equal(head?.crc64nvme, crc64NvmeToBase64(crc64NvmeOf(whole)));
        assert.deepEqual(await readAll(dest, key, 0, whole.length - 1), whole);
        const edge = dest.minPartSize;
        assert.deepEqual(await readAll(dest, key, edge - 10, edge + 9), whole.subarray(edge - 10, edge + 10));
        assert.deepEqual((await dest.listUploads('contract/')).filter((u) => u.key === key), []);
      }));

    it('refuses to complete when a part but the last is under minPartSize', () =>
      use(async (dest) => {
        const key = 'contract/small.bin';
        const parts = [randomBytes(dest.minPartSize - 1), randomBytes(10)];
        const id = await dest.initUpload(key, {});
        const list = [];
        for (const [i, body] of parts.entries()) {
          const r = await dest.uploadPart(key, id, i + 1, Readable.from([body]), body.length, checksFor(dest, body));
          list.push({ partNumber: i + 1, etag: r.etag });
        }
        await refused(dest.complete(key, id, list, fullChecks(dest, parts)), ['ERR_REQUEST'], 'Complete with a first part under the minimum');
        assert.equal(await dest.headObject(key), undefined);
        await dest.abort(key, id);
      }));

    it('aborts an upload: it leaves the listing, its parts are gone, a second abort is quiet', () =>
      use(async (dest) => {
        const key = 'contract/aborted.bin';
        const id = await dest.initUpload(key, {});
        const body = randomBytes(4096);
        await dest.uploadPart(key, id, 1, Readable.from([body]), body.length, checksFor(dest, body));
        await dest.abort(key, id);
        assert.deepEqual((await dest.listUploads('contract/')).filter((u) => u.uploadId === id), []);
        await refused(dest.listParts(key, id), ['ERR_NOT_FOUND'], 'ListParts of an aborted upload');
        await dest.abort(key, id);
        assert.equal(await dest.headObject(key), undefined);
      }));

    if (opts.paging) {
      it('lists past 1000 objects [slow: ~1000 PUTs]', () =>
        use(async (dest) => {
          const keys = Array.from({ length: 1003 }, (_, i) => `contract/page/${String(i).padStart(4, '0')}`);
          let next = 0;
          await Promise.all(
            Array.from({ length: 16 }, async () => {
              while (next < keys.length) {
                const k = keys[next++]!;
                await dest.putObject(k, Buffer.from(k), k.length, {}, checksFor(dest, Buffer.from(k)));
              }
            }),
          );
          const { objects, pages } = await dest.listObjects('contract/page/');
          assert.equal(pages, 2);
          assert.deepEqual(objects.map((o) => o.key), keys);
        }));
    }

    {
      it('verifies the checksum it declares', () =>
        use(async (dest) => {
          const body = randomBytes(150_000);
          if (dest.checksum === 'crc64') {
            // Every reply carries the CRC-64/ECMA of what was stored.
            const r = await dest.putObject('contract/crc', body, body.length, {}, {});
            assert.equal(r.crc64, crc64(body));
            assert.equal((await dest.headObject('contract/crc'))?.crc64, crc64(body));
          } else if (dest.checksum === 'crc64nvme') {
            // A wrong CRC-64/NVME is refused, on a PUT, on a part and on Complete; HEAD reports the full-object value.
            const wrong = crc64NvmeToBase64(crc64NvmeOf(body) ^ 1n);
            await refused(dest.putObject('contract/nvme', body, body.length, {}, { crc64nvme: wrong }), ['ERR_VERIFY'], 'PUT with a wrong CRC-64/NVME');
            await dest.putObject('contract/nvme', body, body.length, {}, { crc64nvme: crc64NvmeToBase64(crc64NvmeOf(body)) });
            assert.equal((await dest.headObject('contract/nvme'))?.crc64nvme, crc64NvmeToBase64(crc64NvmeOf(body)));
            const parts = threeParts(dest);
            const id = await dest.initUpload('contract/nvme-multi', {});
            const p1 = parts[0]!;
            await refused(dest.uploadPart('contract/nvme-multi', id, 1, Readable.from([p1]), p1.length, { crc64nvme: wrong }), ['ERR_VERIFY'], 'part with a wrong CRC-64/NVME');
            const list = [];
            for (const [i, p] of parts.entries()) list.push({ partNumber: i + 1, etag: (await dest.uploadPart('contract/nvme-multi', id, i + 1, Readable.from([p]), p.length, checksFor(dest, p))).etag });
            await refused(dest.complete('contract/nvme-multi', id, list, { crc64nvme: wrong }), ['ERR_VERIFY', 'ERR_REQUEST'], 'Complete with a wrong full-object CRC-64/NVME');
            await dest.complete('contract/nvme-multi', id, list, fullChecks(dest, parts));
            assert.equal((await dest.headObject('contract/nvme-multi'))?.crc64nvme, crc64NvmeToBase64(crc64NvmeOf(Buffer.concat(parts))));
          } else {
            // md5: the MD5 sent is checked (above) and is the ETag of what was stored.
            const r = await dest.putObject('contract/md5', body, body.length, {}, { md5Base64: md5b64(body) });
            assert.equal(unquote(r.etag), md5hex(body));
          }
        }));
    }
  });
}

/** The full-object checks a caller sends with Complete: the CRC-64/NVME combined from the parts'. */
function fullChecks(dest: Destination, parts: Buffer[]): SendChecks | undefined {
  if (dest.checksum !== 'crc64nvme') return undefined;
  let crc = 0n;
  let first = true;
  for (const p of parts) {
    const c = crc64NvmeOf(p);
    crc = first ? c : crc64NvmeCombine(crc, c, p.length);
    first = false;
  }
  return { crc64nvme: crc64NvmeToBase64(crc) };
}
