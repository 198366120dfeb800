/**
 * Panel sizes for a terminal size. Pure, so every size can be tested.
 *
 * Full (80×24 and up): Queue across the top (it needs the width), then
 * Peers over Sessions on the left and Detail on the right, two footer lines.
 * Compact (small terminals): Queue over Peers, one footer line. Tiny: Queue
 * only. Heights add up to exactly the height given (rows − 1: a frame as
 * tall as the terminal makes ink clear the screen on every render).
 */
import type { PanelId } from './ui-state.js';

/** Outer size of a panel, borders included. */
export interface PanelRect {
  readonly width: number;
  readonly height: number;
}

/** Where everything goes. */
export interface Layout {
  readonly mode: 'full' | 'compact' | 'tiny';
  readonly width: number;
  readonly height: number;
  readonly queue: PanelRect;
  readonly peers: PanelRect | null;
  readonly sessions: PanelRect | null;
  readonly detail: PanelRect | null;
  /** Lines of the footer (status line, then the message line when there are two). */
  readonly footer: number;
  /** Focusable panels shown, in Tab order. */
  readonly panels: readonly PanelId[];
}

/** Smallest terminal for the full layout. */
export const FULL_MIN = { width: 64, height: 18 } as const;

/** Lay out `width`×`height` cells; `sessions` is how many earlier sessions there are. */
export function computeLayout(width: number, height: number, sessions = 0): Layout {
  const w = Math.max(1, Math.floor(width));
  const h = Math.max(1, Math.floor(height));
  if (w >= FULL_MIN.width && h >= FULL_MIN.height) {
    const main = h - 2;
    const queueH = Math.max(5, Math.floor(main * 0.42));
    const bottom = main - queueH;
    const leftW = Math.min(36, Math.max(24, Math.floor(w * 0.34)));
    const sessionsH = Math.min(Math.max(3, sessions + 2), Math.floor(bottom / 2));
    return {
      mode: 'full',
      width: w,
      height: h,
      queue: { width: w, height: queueH },
      peers: { width: leftW, height: bottom - sessionsH },
      sessions: { width: leftW, height: sessionsH },
      detail: { width: w - leftW, height: bottom },
      footer: 2,
      panels: ['queue', 'peers', 'sessions'],
    };
  }
  const footer = h >= 2 ? 1 : 0;
  const main = h - footer;
  if (w >= 30 && main >= 7) {
    const queueH = Math.max(3, Math.ceil(main * 0.6));
    return {
      mode: 'compact',
      width: w,
      height: h,
      queue: { width: w, height: queueH },
      peers: { width: w, height: main - queueH },
      sessions: null,
      detail: null,
      footer,
      panels: ['queue', 'peers'],
    };
  }
  return {
    mode: 'tiny',
    width: w,
    height: h,
    queue: { width: w, height: main },
    peers: null,
    sessions: null,
    detail: null,
    footer,
    panels: ['queue'],
  };
}
