import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { inShard, parseShard, resolveShard, shardOf } from '../../src/core/shard.js';
import { Cdb2cosError } from '../../src/errors.js';
import { runCli } from '../helpers/harness.js';

const randomIds = (n: number): string[] => Array.from({ length: n }, () => `cdb-${randomBytes(5).toString('hex')}`);

function shuffle<T>(xs: readonly T[]): T[] {
  const a = [...xs];
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a;
}

test('every id lands in exactly one shard for n = 1..8, over 1,000 random ids, whatever their order', () => {
  const ids = randomIds(1000);
  for (let n = 1; n <= 8; n++) {
    const seen = new Map<string, number>();
    for (let i = 0; i < n; i++) {
      const part = inShard(ids, { index: i, count: n });
      const reordered = inShard(shuffle(ids), { index: i, count: n });
      assert.deepEqual(new Set(reordered), new Set(part), `shard ${i}/${n} does not depend on the order of discovery`);
      for (const id of part) seen.set(id, (seen.get(id) ?? 0) + 1);
      // Balanced enough to be useful: 1000/n ± 30 % (binomial: far beyond 5 standard deviations).
      assert.ok(part.length > (1000 / n) * 0.7 && part.length < (1000 / n) * 1.3, `shard ${i}/${n} holds ${part.length} of 1000`);
    }
    assert.equal(seen.size, ids.length, `n = ${n}: every id is in some shard`);
    assert.ok([...seen.values()].every((c) => c === 1), `n = ${n}: no id is in two shards`);
  }
});

test('a unit’s shard is the first 8 bytes of the SHA-256 of its id, mod n: stable across versions', () => {
  for (const id of ['cdb-aaaa1111', 'cdb-demo0001', 'cdbro-zz9']) {
    const head = BigInt('0x' + createHash('sha256').update(id).digest('hex').slice(0, 16));
    for (let n = 1; n <= 8; n++) assert.equal(shardOf(id, n), Number(head % BigInt(n)), `${id} mod ${n}`);
  }
  assert.equal(shardOf('cdb-aaaa1111', 1), 0);
  assert.deepEqual(inShard(['b', 'a'], undefined), ['b', 'a'], 'no shard: every unit, in order');
});

const usage = (fn: () => unknown, part: RegExp): void => {
  assert.throws(fn, (e: unknown) => e instanceof Cdb2cosError && e.code === 'ERR_USAGE' && part.test(e.message) && !e.message.includes('\n'));
};

test('--shard i/n: well-formed values are read, malformed ones refused with one line', () => {
  assert.deepEqual(parseShard('0/1', '--shard'), { index: 0, count: 1 });
  assert.deepEqual(parseShard('2/3', '--shard'), { index: 2, count: 3 });
  assert.deepEqual(parseShard('999/1000', '--shard'), { index: 999, count: 1000 });
  for (const bad of ['', '1', 'a/b', '1/', '/3', '1/2/3', ' 1/2', '1 /2', '01/3', '1/03', '-1/2', '1.0/2', '+1/2', '0x1/2']) usage(() => parseShard(bad, '--shard'), /--shard: .* is not a shard like 0\/3/);
  usage(() => parseShard('3/3', '--shard'), /index must be below the count/);
  usage(() => parseShard('5/2', '--shard'), /index must be below the count/);
  usage(() => parseShard('0/0', '--shard'), /count must be from 1 to 1000/);
  usage(() => parseShard('0/1001', '--shard'), /count must be from 1 to 1000/);
});

test('precedence: --shard, then CDB2COS_SHARD, then --shards / CDB2COS_SHARDS with JOB_COMPLETION_INDEX', () => {
  const env = { CDB2COS_SHARD: '1/4', CDB2COS_SHARDS: '4', JOB_COMPLETION_INDEX: '3' };
  assert.deepEqual(resolveShard({ shard: '0/4', env }), { index: 0, count: 4 }, 'the flag wins');
  assert.deepEqual(resolveShard({ env }), { index: 1, count: 4 }, 'then CDB2COS_SHARD');
  assert.deepEqual(resolveShard({ env: { CDB2COS_SHARDS: '4', JOB_COMPLETION_INDEX: '3' } }), { index: 3, count: 4 }, 'then the Job index');
  assert.deepEqual(resolveShard({ shards: '5', env: { CDB2COS_SHARDS: '4', JOB_COMPLETION_INDEX: '3' } }), { index: 3, count: 5 }, '--shards wins over CDB2COS_SHARDS');
  assert.deepEqual(resolveShard({ shards: '2', env: { JOB_COMPLETION_INDEX: '0' } }), { index: 0, count: 2 });
  assert.equal(resolveShard({ env: {} }), undefined, 'nothing: no sharding');
  assert.equal(resolveShard({ env: { JOB_COMPLETION_INDEX: '2' } }), undefined, 'an Indexed Job without a shard count does not shard');
  assert.equal(resolveShard({ shard: '', env: { CDB2COS_SHARD: '', CDB2COS_SHARDS: '' } }), undefined, 'empty variables are unset');
  assert.deepEqual(resolveShard({ shard: '1/3', env: { CDB2COS_SHARDS: '3' } }), { index: 1, count: 3 }, 'an agreeing count is fine');
});

test('shard inputs that contradict or lack a part are refused with one line', () => {
  usage(() => resolveShard({ shard: '0/3', shards: '4', env: {} }), /--shard 0\/3 disagrees with --shards 4/);
  usage(() => resolveShard({ env: { CDB2COS_SHARD: '0/3', CDB2COS_SHARDS: '2' } }), /CDB2COS_SHARD 0\/3 disagrees with CDB2COS_SHARDS 2/);
  usage(() => resolveShard({ shards: '3', env: {} }), /--shards 3: needs the shard index/);
  usage(() => resolveShard({ env: { CDB2COS_SHARDS: '3' } }), /CDB2COS_SHARDS 3: needs the shard index/);
  usage(() => resolveShard({ shards: '3', env: { JOB_COMPLETION_INDEX: '3' } }), /JOB_COMPLETION_INDEX 3 is not below --shards 3/);
  usage(() => resolveShard({ shards: '3', env: { JOB_COMPLETION_INDEX: 'x' } }), /JOB_COMPLETION_INDEX: "x" is not a whole number/);
  usage(() => resolveShard({ shards: '0', env: { JOB_COMPLETION_INDEX: '0' } }), /--shards: "0" is not a shard count/);
  usage(() => resolveShard({ env: { CDB2COS_SHARDS: 'three', JOB_COMPLETION_INDEX: '0' } }), /CDB2COS_SHARDS: "three"/);
  usage(() => resolveShard({ env: { CDB2COS_SHARD: '3/3' } }), /CDB2COS_SHARD: the shard index must be below/);
});

test('the CLI refuses a malformed shard with exit 2 and one line, before reading the config', async () => {
  for (const [args, env, part] of [
    [['--shard', '3/3'], {}, '--shard'],
    [['--shards', '2'], {}, '--shards 2: needs the shard index'],
    [[], { CDB2COS_SHARD: 'x' }, 'CDB2COS_SHARD'],
    [['--shards', '2'], { JOB_COMPLETION_INDEX: '7' }, 'JOB_COMPLETION_INDEX 7'],
  ] as const) {
    const r = await runCli(['run', '-c', '/nonexistent/cdb2cos.ini', ...args], { env: { ...env } });
    assert.equal(r.code, 2, `${args.join(' ')} ${JSON.stringify(env)}: ${r.stderr}`);
    const lines = r.stderr.trim().split('\n');
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0]!, /^cdb2cos: error: /);
    assert.ok(lines[0]!.includes(part), lines[0]);
  }
});
