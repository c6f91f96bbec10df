// Terminal progress: events → state → lines (pure), and the redraw's escape sequences.
/* eslint-disable no-control-regex -- terminal output: ANSI escape sequences are what is checked */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { applyProgress, emptyProgress, formatEta, renderProgress } from '../../src/progress/state.js';
import { TerminalProgress } from '../../src/progress/terminal.js';

const MiB = 1024 * 1024;

describe('progress lines', () => {
  it('show nothing before the copies are planned', () => {
    assert.deepEqual(renderProgress(emptyProgress(), 0, 120), []);
  });

  it('give one line per active item with bytes, rate and ETA, then the run total', () => {
    const s = emptyProgress();
    applyProgress(s, 0, { kind: 'plan', items: 3, bytes: 40 * MiB });
    applyProgress(s, 0, { kind: 'start', id: 'a', label: 'cdb-aaaa1111 data a.xb', size: 20 * MiB });
    applyProgress(s, 0, { kind: 'start', id: 'b', label: 'cdb-aaaa1111 binlog b.001', size: 10 * MiB });
    applyProgress(s, 1000, { kind: 'bytes', id: 'a', n: 2 * MiB });
    applyProgress(s, 2000, { kind: 'bytes', id: 'a', n: 2 * MiB });
    applyProgress(s, 2000, { kind: 'bytes', id: 'b', n: 1 * MiB });
    assert.deepEqual(renderProgress(s, 2000, 200), [
      '  cdb-aaaa1111 data a.xb: 4.0 MiB of 20 MiB (20%), 2.0 MiB/s, ETA 0:08',
      '  cdb-aaaa1111 binlog b.001: 1.0 MiB of 10 MiB (10%), 512 KiB/s, ETA 0:18',
      'total: 0 of 3 items done, 5.0 MiB of 40 MiB (12%), 2.5 MiB/s, ETA 0:14',
    ]);
    applyProgress(s, 2000, { kind: 'end', id: 'b' });
    const lines = renderProgress(s, 2000, 200);
    assert.equal(lines.length, 2);
    assert.match(lines[1]!, /^total: 1 of 3 items done/);
  });

  it('shows no rate or ETA in the first second, and a falling rate when bytes stop', () => {
    const s = emptyProgress();
    applyProgress(s, 0, { kind: 'plan', items: 1, bytes: 10 * MiB });
    applyProgress(s, 0, { kind: 'start', id: 'a', label: 'x', size: 10 * MiB });
    applyProgress(s, 500, { kind: 'bytes', id: 'a', n: MiB });
    assert.equal(renderProgress(s, 500, 200)[0], '  x: 1.0 MiB of 10 MiB (10%), –, ETA –');
    // Measured over the last ~5 s up to now: no bytes for 10 s means the rate falls.
    assert.match(renderProgress(s, 1000, 200)[0]!, /1\.0 MiB\/s/);
    assert.match(renderProgress(s, 10_500, 200)[0]!, /98 KiB\/s/);
  });

  it('fits the width and caps the item lines', () => {
    const s = emptyProgress();
    applyProgress(s, 0, { kind: 'plan', items: 30, bytes: 30 });
    for (let i = 0; i < 12; i++) applyProgress(s, 0, { kind: 'start', id: String(i), label: `item-${i}-${'n'.repeat(80)}`, size: 1 });
    const lines = renderProgress(s, 0, 40, 10);
    assert.equal(lines.length, 12);
    assert.equal(lines[10], '  … and 2 more');
    for (const l of lines) assert.ok(l.length <= 40, l);
  });

  it('formats ETAs', () => {
    assert.equal(formatEta(9), '0:09');
    assert.equal(formatEta(247), '4:07');
    assert.equal(formatEta(3909), '1:05:09');
  });
});

describe('TerminalProgress', () => {
  it('draws after the redraw interval, erases its lines before a line of its own, and erases them at stop', async () => {
    let out = '';
    const t = new TerminalProgress({ write: (x) => void (out += x) }, () => 100, () => 0);
    t.plan(1, 100);
    t.start('a', 'x', 100);
    t.bytes('a', 50);
    assert.equal(out, '', 'nothing at once: at most one redraw per 200 ms');
    await new Promise((r) => setTimeout(r, 260));
    assert.equal(out, '\r\x1b[J  x: 50 B of 100 B (50%), –, ETA –\ntotal: 0 of 1 items done, 50 B of 100 B (50%), –, ETA –\n');
    out = '';
    t.above(() => out += 'copied x\n');
    assert.equal(out, '\x1b[2F\x1b[Jcopied x\n');
    out = '';
    await new Promise((r) => setTimeout(r, 260));
    assert.match(out, /^\r\x1b\[J {2}x: /);
    out = '';
    t.stop();
    assert.equal(out, '\x1b[2F\x1b[J');
    out = '';
    t.bytes('a', 10);
    await new Promise((r) => setTimeout(r, 260));
    assert.equal(out, '', 'nothing after stop');
  });
});
