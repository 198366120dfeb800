import { describe, expect, it } from 'vitest';
import { computeLayout } from '../../src/ui/layout.js';

describe('computeLayout', () => {
  it('uses the full layout at 80×23 and the heights add up exactly', () => {
    const l = computeLayout(80, 23, 1);
    expect(l.mode).toBe('full');
    expect(l.panels).toEqual(['queue', 'peers', 'sessions']);
    const bottom = (l.peers?.height ?? 0) + (l.sessions?.height ?? 0);
    expect(bottom).toBe(l.detail?.height);
    expect(l.queue.height + bottom + l.footer).toBe(23);
    expect((l.peers?.width ?? 0) + (l.detail?.width ?? 0)).toBe(80);
    expect(l.sessions?.height).toBe(3);
  });

  it('gives Sessions more rows when there are more sessions, up to half the bottom', () => {
    const few = computeLayout(120, 39, 0);
    const many = computeLayout(120, 39, 50);
    expect(many.sessions?.height).toBeGreaterThan(few.sessions?.height ?? 0);
    expect(many.sessions?.height).toBeLessThanOrEqual((many.detail?.height ?? 0) / 2);
  });

  it('degrades to Queue over Peers, then Queue alone, never to negative sizes', () => {
    const c = computeLayout(40, 9);
    expect(c.mode).toBe('compact');
    expect(c.panels).toEqual(['queue', 'peers']);
    expect(c.queue.height + (c.peers?.height ?? 0) + c.footer).toBe(9);
    for (const [w, h] of [
      [20, 5],
      [1, 1],
      [0, 0],
      [200, 3],
    ] as const) {
      const t = computeLayout(w, h);
      expect(t.mode).toBe('tiny');
      expect(t.queue.height).toBeGreaterThanOrEqual(0);
      expect(t.queue.height + t.footer).toBe(Math.max(1, h));
    }
  });
});
