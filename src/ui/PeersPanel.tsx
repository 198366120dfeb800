/**
 * The Peers panel: devices seen on the LAN and known (pinned) ones, with
 * online/offline, how they relate to what is pinned, and when last seen.
 */
import { memo } from 'react';
import type { PeerBadge, PeerView } from '../app/controller.js';
import { fitWidth, formatAgo, type Seg } from './format.js';
import { Panel } from './Panel.js';
import { Lines } from './Row.js';
import { windowStart } from './selectors.js';

/** Props of `PeersPanel`. */
export interface PeersPanelProps {
  readonly peers: readonly PeerView[];
  readonly selected: number;
  readonly focused: boolean;
  readonly width: number;
  readonly height: number;
  readonly now: number;
}

const BADGE: Record<PeerBadge, { long: string; short: string; color: string }> = {
  known: { long: 'known', short: 'known', color: 'green' },
  new: { long: 'new', short: 'new', color: 'yellow' },
  'key-changed': { long: 'key-changed', short: 'KEY!', color: 'red' },
};

/** The segments of one peer row of `w` cells. */
export function peerRowSegs(peer: PeerView, w: number, now: number, selected: boolean): Seg[] {
  const badgeW = w >= 34 ? 11 : 5;
  let agoW = 8;
  let nameW = w - 4 - 1 - badgeW - agoW;
  if (nameW < 6) {
    agoW = 0;
    nameW = w - 4 - 1 - badgeW;
  }
  const b = BADGE[peer.badge];
  const segs: Seg[] = [
    { text: selected ? '› ' : '  ', bold: true, color: 'cyan' },
    { text: peer.online ? '● ' : '○ ', color: peer.online ? 'green' : 'gray' },
    { text: fitWidth(peer.name, nameW), bold: selected, dim: !peer.online },
    {
      text: ` ${fitWidth(badgeW >= 11 ? b.long : b.short, badgeW)}`,
      color: b.color,
      bold: peer.badge === 'key-changed',
    },
  ];
  if (agoW > 0) segs.push({ text: fitWidth(formatAgo(peer.lastSeen, now), agoW, true), dim: true });
  return segs;
}

/** The Peers panel. */
export const PeersPanel = memo(function PeersPanel({
  peers,
  selected,
  focused,
  width,
  height,
  now,
}: PeersPanelProps) {
  const w = width - 2;
  const rows = Math.max(0, height - 2);
  const start = windowStart(selected, peers.length, rows);
  const online = peers.filter((p) => p.online).length;
  return (
    <Panel
      title={`Peers (${online}/${peers.length})`}
      width={width}
      height={height}
      focused={focused}
    >
      <Lines
        lines={
          peers.length === 0 && rows > 0
            ? [[{ text: 'No peers seen yet.', dim: true }]]
            : peers
                .slice(start, start + rows)
                .map((p, i) => peerRowSegs(p, w, now, start + i === selected))
        }
        width={w}
      />
    </Panel>
  );
});
