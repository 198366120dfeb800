/**
 * The footer's two lines: the status line (this device, relay, discovery,
 * key hints) and the message line (what just happened, else hints for the
 * focused panel).
 */
import type { AppSnapshot, NetworkView } from '../app/controller.js';
import type { Seg } from './format.js';
import type { PanelId, UiState } from './ui-state.js';

/** How long a controller notice stays in the message line. */
export const NOTICE_MS = 10_000;

function relaySegs(n: NetworkView): Seg[] {
  if (n.relays.length === 0 || n.relayStatus === 'none') return [{ text: 'relay none', dim: true }];
  const color =
    n.relayStatus === 'reachable' ? 'green' : n.relayStatus === 'unreachable' ? 'red' : 'yellow';
  return [{ text: 'relay ' }, { text: n.relayStatus, color }];
}

function discoverySegs(n: NetworkView): Seg[] {
  const color = n.discovery === 'on' ? 'green' : n.discovery === 'failed' ? 'red' : 'gray';
  const extra = n.discoveryInterface ? ` (${n.discoveryInterface})` : '';
  const note = n.discovery !== 'on' && n.discoveryNote ? ` (${n.discoveryNote})` : '';
  return [{ text: 'LAN ' }, { text: n.discovery, color }, { text: `${extra}${note}`, dim: true }];
}

/** The status line. */
export function statusSegs(s: AppSnapshot): Seg[] {
  const sep: Seg = { text: ' │ ', dim: true };
  return [
    { text: s.device.name, bold: true },
    { text: ` ${s.device.shortId}`, color: 'cyan' },
    sep,
    ...relaySegs(s.network),
    sep,
    ...discoverySegs(s.network),
    sep,
    { text: '? help · q quit', dim: true },
  ];
}

const HINTS: Record<PanelId, string> = {
  queue:
    '↑↓ select · Tab panel · s send · r receive · p pause · x cancel · +/- priority · R retry · d discard',
  peers: '↑↓ select · Tab panel · Enter send to peer · t trust · s send · r receive',
  sessions: '↑↓ select · Tab panel · Enter resume · d discard',
};

/** What the message line says now; `hints` false gives null instead of the key hints. */
export function messageSegs(
  state: UiState,
  s: AppSnapshot,
  now: number,
  offerHidden: boolean,
  hints = true,
): Seg[] | null {
  if (state.quitting) return [{ text: 'Stopping transfers and saving sessions…', color: 'yellow' }];
  if (state.status) {
    return [{ text: state.status.text, color: state.status.level === 'error' ? 'red' : 'green' }];
  }
  const notice = s.notices.at(-1);
  if (notice && now - notice.at < NOTICE_MS) {
    const color = notice.level === 'error' ? 'red' : notice.level === 'warn' ? 'yellow' : undefined;
    return [{ text: notice.text, color }];
  }
  if (offerHidden) {
    const o = s.offers[0];
    const who = o?.peerName ?? o?.shortId ?? 'a peer';
    return [
      { text: `Incoming offer from ${who}: close this dialog to answer it.`, color: 'yellow' },
    ];
  }
  return hints ? [{ text: HINTS[state.focus], dim: true }] : null;
}
