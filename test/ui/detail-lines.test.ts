import { describe, expect, it } from 'vitest';
import { detailLines } from '../../src/ui/detail-lines.js';
import { file, job } from './fake-controller.js';

const texts = (lines: ReturnType<typeof detailLines>) =>
  lines.map((l) => l.segs.map((s) => s.text).join(''));

const hs = {
  suite: 'ML-KEM-1024+X25519',
  sas: 'apple banana cherry delta',
  fingerprint: 'ab'.repeat(32),
  usedCode: true,
};

describe('detail lines', () => {
  it('shows the summary, code, words, files with Merkle status, the map and events', () => {
    const f = { ...file('report.pdf', '3333210004'), root: 'mismatch' as const, mismatched: [9] };
    const j = job({
      id: 'a',
      label: 'report.pdf',
      code: '7-purple-sausage',
      handshake: hs,
      files: [f, { ...file('b.txt', '33'), root: 'verified' }],
      events: Array.from({ length: 6 }, (_, i) => ({ at: 0, text: `event ${i}` })),
    });
    const t = texts(detailLines(j, 60, 20, Date.now()));
    expect(t[0]).toMatch(/^↑ report\.pdf → alice {2}sending · 45% · 45 MiB of 100 MiB/);
    expect(t).toContain('Code to read out: 7-purple-sausage');
    expect(t).toContain('Words  apple banana cherry delta');
    expect(t.some((l) => l.includes('abab abab abab abab… · ML-KEM-1024+X25519'))).toBe(true);
    expect(
      t.some((l) => /report\.pdf \(10 MiB\) .*4\/10 leaves ✗ root mismatch: chunks 9/.test(l)),
    ).toBe(true);
    expect(t.some((l) => /b\.txt .*2\/2 leaves ✓ root verified/.test(l))).toBe(true);
    expect(t).toContain('████▒░···✗██');
    expect(t.some((l) => l.startsWith('· pending'))).toBe(true);
    expect(t.at(-1)).toMatch(/event 5$/);
    expect(t.length).toBeLessThanOrEqual(20);
  });

  it('fits a small panel: never more lines than rows, the map regrouped to what is left', () => {
    const j = job({
      id: 'a',
      handshake: hs,
      files: [file('x', '3'.repeat(500) + '0'.repeat(500))],
    });
    for (const h of [1, 3, 6, 11]) {
      const lines = detailLines(j, 40, h, Date.now());
      expect(lines.length).toBeLessThanOrEqual(h);
    }
    const t = texts(detailLines(j, 40, 6, Date.now()));
    const map = t.filter((l) => /^[█·]+$/.test(l));
    expect(map.length).toBeGreaterThan(0);
    expect(map.every((l) => l.length <= 40)).toBe(true);
  });

  it('says what to do when nothing is selected, and when the files are not known yet', () => {
    expect(texts(detailLines(undefined, 40, 5, 0))[0]).toContain('Select a transfer');
    const t = texts(detailLines(job({ id: 'q', state: 'queued' }), 60, 8, 0));
    expect(t).toContain('The chunk map appears once the files are known.');
  });
});
