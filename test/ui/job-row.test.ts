import { describe, expect, it } from 'vitest';
import { SPINNER_FRAMES, spinnerGlyph, textWidth } from '../../src/ui/format.js';
import { jobRowSegs, queueColumns, queueHeaderSegs, stateText } from '../../src/ui/job-row.js';
import { job } from './fake-controller.js';

const text = (segs: { text: string }[]) => segs.map((s) => s.text).join('');
const spins = (row: string) => [...row].some((c) => SPINNER_FRAMES.includes(c));

describe('queue rows', () => {
  it('shows every column when wide and drops path, size, rate, peer, ETA, bar in that order', () => {
    expect([...queueColumns(140).show].sort()).toEqual([
      'bar',
      'eta',
      'path',
      'peer',
      'rate',
      'size',
    ]);
    expect(queueColumns(90).show.has('path')).toBe(false);
    const at78 = queueColumns(78);
    expect([...at78.show].sort()).toEqual(['bar', 'eta', 'peer']);
    expect(queueColumns(30).show.size).toBe(0);
    expect(queueColumns(30).label).toBeGreaterThanOrEqual(1);
  });

  it('lays a row out to exactly the width, with the columns it says', () => {
    const now = Date.now();
    for (const w of [30, 60, 78, 98, 140]) {
      const cols = queueColumns(w);
      const row = text(jobRowSegs(job({ id: 'a', label: 'report.pdf' }), cols, now, true));
      expect(textWidth(row)).toBe(w);
      expect(textWidth(text(queueHeaderSegs(cols)))).toBeLessThanOrEqual(w);
    }
    const wide = text(
      jobRowSegs(
        job({ id: 'a', label: 'report.pdf', priority: 'high' }),
        queueColumns(140),
        now,
        true,
      ),
    );
    expect(wide).toMatch(/^› ↑▲ report\.pdf/);
    expect(wide).toContain('alice');
    expect(wide).toContain('100 MiB');
    expect(wide).toContain('█████░░░░░  45%');
    expect(wide).toContain('3.0 MiB/s');
    expect(wide).toContain('18s');
    expect(wide).toContain('sending');
    expect(wide).toContain('direct·QUIC');
  });

  it('puts a spinner on waiting states only, and counts a retry down from retryAt', () => {
    const now = 1_000_000;
    const cols = queueColumns(140);
    const retry = jobRowSegs(
      job({ id: 'r', state: 'retrying', retryAt: now + 12_400 }),
      cols,
      now,
      false,
    );
    expect(text(retry)).toContain(`${spinnerGlyph(0)} retry 13s`);
    const later = jobRowSegs(
      job({ id: 'r', state: 'retrying', retryAt: now + 12_400 }),
      cols,
      now,
      false,
      3,
    );
    expect(text(later)).toContain(`${spinnerGlyph(3)} retry 13s`);
    expect(spins(text(jobRowSegs(job({ id: 't' }), cols, now, false, 3)))).toBe(false);
    expect(stateText(job({ id: 'w', state: 'waiting-for-peer' }), now)).toBe('waiting peer');
    expect(stateText(job({ id: 'x', direction: 'receive' }), now)).toBe('receiving');
    expect(stateText(job({ id: 'p', state: 'paused' }), now)).toBe('paused');
    expect(stateText(job({ id: 'q', state: 'paused', pausedByPeer: true }), now)).toBe(
      'peer paused',
    );
    expect(stateText(job({ id: 'n', needsConfirm: true }), now)).toBe('check words');
    const relay = job({
      id: 'l',
      direction: 'receive',
      path: { kind: 'relay', transport: 'tcp', rttMs: null },
    });
    expect(text(jobRowSegs(relay, cols, now, false))).toMatch(/^ {2}↓ .*relay·TCP/);
  });
});
