import { test } from 'node:test';
import assert from 'node:assert/strict';
import { collectAfter, collectNow, COLLECT_EVERY_BYTES } from '../../src/transfer/heap.js';

test('a full collection runs once every COLLECT_EVERY_BYTES sent, and never without gc exposed', () => {
  let runs = 0;
  const gc = (): void => void runs++;
  // Whatever an earlier caller counted: this many bytes always cross the threshold once.
  assert.equal(collectAfter(COLLECT_EVERY_BYTES, gc), true);
  assert.equal(runs, 1);
  const part = 16 * 1024 * 1024;
  let collected = 0;
  for (let sent = 0; sent < 4 * COLLECT_EVERY_BYTES; sent += part) if (collectAfter(part, gc)) collected++;
  assert.equal(collected, 4);
  assert.equal(runs, 5);
  // No gc (node started without --expose-gc): counted, nothing run, no error.
  assert.equal(collectAfter(2 * COLLECT_EVERY_BYTES, null), false);
});

test('collectNow runs one full collection when gc is exposed and starts the byte count over', () => {
  let runs = 0;
  const gc = (): void => void runs++;
  collectAfter(COLLECT_EVERY_BYTES - 1, null);
  assert.equal(collectNow(gc), true);
  assert.equal(runs, 1);
  // The count started over: one byte short of the threshold again runs nothing.
  assert.equal(collectAfter(COLLECT_EVERY_BYTES - 1, gc), false);
  assert.equal(runs, 1);
  assert.equal(collectNow(null), false);
});
