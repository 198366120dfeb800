/**
 * The Send dialog: a path (Tab completes), then a peer or "by code", then
 * (by code) the code to read out to the receiver.
 */
import type { AppSnapshot } from '../app/controller.js';
import { DialogFrame, dialogInnerWidth } from './DialogFrame.js';
import type { DetailLine } from './detail-lines.js';
import { fitWidth } from './format.js';
import { peerName, sendTargets } from './reducer-core.js';
import { resolveIndex, windowStart } from './selectors.js';
import { errorLines, fieldSegs } from './text-field.js';
import { BY_CODE, type SendDialogState } from './ui-state.js';

/** Props of `SendDialog`. */
export interface SendDialogProps {
  readonly dialog: SendDialogState;
  readonly snapshot: AppSnapshot;
  readonly screenWidth: number;
  readonly screenHeight: number;
}

const CANDIDATES_SHOWN = 6;
const TARGETS_SHOWN = 8;

function pathLines(d: SendDialogState, w: number): DetailLine[] {
  const lines: DetailLine[] = [{ key: 'path', segs: fieldSegs('Path', d.path, w, true) }];
  d.candidates.slice(0, CANDIDATES_SHOWN).forEach((c) => {
    lines.push({ key: `c:${c}`, segs: [{ text: `    ${c}`, dim: true }] });
  });
  if (d.candidates.length > CANDIDATES_SHOWN) {
    const more = d.candidates.length - CANDIDATES_SHOWN;
    lines.push({ key: 'c-more', segs: [{ text: `    …and ${more} more`, dim: true }] });
  }
  return lines;
}

function targetLines(d: SendDialogState, s: AppSnapshot, w: number): DetailLine[] {
  const ids = sendTargets(s);
  const at = resolveIndex(d.target, ids);
  const start = windowStart(at, ids.length, TARGETS_SHOWN);
  const lines: DetailLine[] = [
    {
      key: 'what',
      segs: [{ text: 'Send ' }, { text: d.path.trim(), bold: true }, { text: ' to:' }],
    },
  ];
  ids.slice(start, start + TARGETS_SHOWN).forEach((id, i) => {
    const sel = start + i === at;
    const mark = { text: sel ? '› ' : '  ', bold: true, color: 'cyan' };
    if (id === BY_CODE) {
      lines.push({
        key: id,
        segs: [
          mark,
          { text: '# by code', bold: sel },
          { text: '  anyone, with a phrase to read out', dim: true },
        ],
      });
      return;
    }
    const p = s.peers.find((x) => x.fingerprint === id);
    lines.push({
      key: id,
      segs: [
        mark,
        { text: p?.online ? '● ' : '○ ', color: p?.online ? 'green' : 'gray' },
        { text: fitWidth(p?.name ?? id, Math.max(4, w - 20)), bold: sel },
        { text: ` ${p?.badge ?? ''}`, dim: true },
      ],
    });
  });
  return lines;
}

/** The lines of the Send dialog for an inner width `w`. */
export function sendLines(d: SendDialogState, s: AppSnapshot, w: number): DetailLine[] {
  if (d.step === 'code') {
    return [
      { key: 'say', segs: [{ text: 'Read this code to the receiver:' }] },
      { key: 'gap', segs: [] },
      { key: 'code', segs: [{ text: `    ${d.code ?? ''}`, bold: true, color: 'yellow' }] },
      { key: 'gap2', segs: [] },
      {
        key: 'how',
        segs: [{ text: 'They press r in ferry (or run ferry receive) and type it.', dim: true }],
      },
      { key: 'keep', segs: [{ text: 'It stays in Detail until they join.', dim: true }] },
      { key: 'keys', segs: [{ text: 'Enter or Esc closes', color: 'cyan' }] },
    ];
  }
  const lines = d.step === 'path' ? pathLines(d, w) : targetLines(d, s, w);
  if (d.pending !== null)
    lines.push({ key: 'busy', segs: [{ text: 'Queuing…', color: 'yellow' }] });
  lines.push(...errorLines(d.error, w));
  const keys =
    d.step === 'path'
      ? `Enter ${d.peer ? 'send' : 'next'} · Tab complete · Esc close`
      : '↑↓ choose · Enter send · Esc back';
  lines.push({ key: 'keys', segs: [{ text: keys, color: 'cyan' }] });
  return lines;
}

/** The Send dialog. */
export function SendDialog({ dialog, snapshot, screenWidth, screenHeight }: SendDialogProps) {
  const title =
    dialog.step === 'code'
      ? 'Send by code'
      : dialog.peer
        ? `Send to ${peerName(snapshot, dialog.peer)}`
        : 'Send';
  return (
    <DialogFrame
      title={title}
      lines={sendLines(dialog, snapshot, dialogInnerWidth(screenWidth))}
      screenWidth={screenWidth}
      screenHeight={screenHeight}
    />
  );
}
