import { Text } from 'ink';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { FerryController } from '../../src/app/controller.js';
import { DetailPanel } from '../../src/ui/DetailPanel.js';
import { PeersPanel } from '../../src/ui/PeersPanel.js';
import { QueuePanel } from '../../src/ui/QueuePanel.js';
import { SessionsPanel } from '../../src/ui/SessionsPanel.js';
import { useClock } from '../../src/ui/use-clock.js';
import { useSnapshot } from '../../src/ui/use-snapshot.js';
import { emptySnapshot, FakeController, file, job, peer } from './fake-controller.js';
import { renderTui } from './render-tui.js';

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
});
afterEach(() => {
  vi.useRealTimers();
});

const NOW = Date.now();

describe('QueuePanel', () => {
  it('lists sends and receives with arrow, label, peer, progress, state and a spinner on waits', async () => {
    const jobs = [
      job({ id: 's', label: 'report.pdf' }),
      job({ id: 'r', label: 'photos', direction: 'receive', peer: 'bob', state: 'connecting' }),
      job({ id: 'f', label: 'broken.iso', state: 'failed', priority: 'low' }),
    ];
    const t = renderTui(
      <QueuePanel jobs={jobs} selected={1} focused width={100} height={7} now={NOW} />,
    );
    const lines = t.lastFrame().split('\n');
    expect(lines[0]).toMatch(/^┏━ Queue \(3\) ━+┓$/);
    expect(lines[1]).toMatch(/Name +Peer +Size Progress +Rate +ETA +State/);
    expect(lines[2]).toMatch(
      /^┃ {2}↑ {2}report\.pdf +alice +100 MiB █████░░░░░ {2}45% +3\.0 MiB\/s +18s +sending/,
    );
    expect(lines[3]).toMatch(
      /^┃› ↓ {2}photos +bob +100 MiB █████░░░░░ {2}45% +[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏] connecting/,
    );
    expect(lines[4]).toMatch(/^┃ {2}↑▼ broken\.iso .* failed/);
    expect(lines).toHaveLength(7);
    await t.unmount();
  });

  it('says how to start when empty, and scrolls to keep the selection in view', async () => {
    const empty = renderTui(
      <QueuePanel jobs={[]} selected={-1} focused={false} width={80} height={4} now={NOW} />,
    );
    expect(empty.lastFrame()).toContain('No transfers. s sends a file, r receives by code.');
    expect(empty.lastFrame()).toMatch(/^╭─ Queue ─+╮$/m);
    await empty.unmount();
    const many = Array.from({ length: 30 }, (_, i) => job({ id: `j${i}`, label: `file-${i}` }));
    const t = renderTui(
      <QueuePanel jobs={many} selected={25} focused width={80} height={8} now={NOW} />,
    );
    expect(t.lastFrame()).toMatch(/› ↑ {2}file-25/);
    expect(t.lastFrame()).not.toContain('file-0 ');
    await t.unmount();
  });
});

describe('PeersPanel', () => {
  it('shows online and offline peers, badges and when they were last seen', async () => {
    const peers = [
      peer({ name: 'alice', lastSeen: NOW }),
      peer({ name: 'bob', online: false, badge: 'new', lastSeen: NOW - 125_000 }),
      peer({ name: 'mallory', badge: 'key-changed', online: false, lastSeen: null }),
    ];
    const t = renderTui(
      <PeersPanel peers={peers} selected={0} focused width={40} height={5} now={NOW} />,
    );
    const lines = t.lastFrame().split('\n');
    expect(lines[0]).toMatch(/Peers \(1\/3\)/);
    expect(lines[1]).toMatch(/^┃› ● alice +known +now┃$/);
    expect(lines[2]).toMatch(/^┃ {2}○ bob +new +2m ago┃$/);
    expect(lines[3]).toMatch(/^┃ {2}○ mallory +key-changed +never┃$/);
    await t.unmount();
    const narrow = renderTui(
      <PeersPanel peers={peers} selected={0} focused={false} width={26} height={5} now={NOW} />,
    );
    expect(narrow.lastFrame()).toContain('│  ○ mallo… KEY!    never│');
    await narrow.unmount();
  });
});

describe('SessionsPanel', () => {
  it('lists restored sessions with their progress', async () => {
    const jobs = [job({ id: 'o', label: 'backup.tar', restored: true, direction: 'receive' })];
    const t = renderTui(<SessionsPanel jobs={jobs} selected={0} focused width={30} height={3} />);
    expect(t.lastFrame()).toMatch(/^┃› ↓ backup\.tar +45%┃$/m);
    await t.unmount();
    const none = renderTui(
      <SessionsPanel jobs={[]} selected={-1} focused={false} width={30} height={3} />,
    );
    expect(none.lastFrame()).toContain('No earlier sessions.');
    await none.unmount();
  });
});

describe('DetailPanel', () => {
  it('draws the chunk map, Merkle status per file, handshake facts, the code and events', async () => {
    const j = job({
      id: 'a',
      label: 'set',
      code: '4-ocean-lamp',
      handshake: {
        suite: 'ML-KEM-1024+X25519',
        sas: 'river stone maple',
        fingerprint: '12'.repeat(32),
        usedCode: true,
      },
      files: [
        { ...file('one.bin', '33333333'), root: 'verified' },
        { ...file('two.bin', '21004'), root: 'mismatch', mismatched: [4] },
      ],
      events: [{ at: NOW, text: 'chunk 4 of two.bin failed its hash; fetching it again' }],
    });
    const t = renderTui(<DetailPanel job={j} width={70} height={14} now={NOW} />);
    const f = t.lastFrame();
    expect(f).toContain('Code to read out: 4-ocean-lamp');
    expect(f).toContain('Words  river stone maple');
    expect(f).toContain('Peer   1212 1212 1212 1212… · ML-KEM-1024+X25519');
    expect(f).toMatch(/one\.bin \(8\.0 MiB\) +8\/8 leaves ✓ root verified/);
    expect(f).toMatch(/two\.bin \(5\.0 MiB\) +0\/5 leaves ✗ root mismatch: chunks 4/);
    expect(f).toContain('│████████▒░··✗ ');
    expect(f).toContain('chunk 4 of two.bin failed its hash; fetching it again');
    await t.unmount();
  });

  it('groups a large map into the cells it has', async () => {
    const j = job({ id: 'a', files: [file('big', `${'3'.repeat(4000)}${'0'.repeat(3999)}4`)] });
    const t = renderTui(<DetailPanel job={j} width={42} height={6} now={NOW} />);
    const mapLines = t
      .lastFrame()
      .split('\n')
      .filter((l) => /^│[█·✗]+ *│$/.test(l));
    expect(mapLines.length).toBeGreaterThan(0);
    const cells = mapLines.join('').replace(/[│ ]/g, '');
    expect(cells.length).toBeLessThanOrEqual(40 * mapLines.length);
    expect(cells.startsWith('█')).toBe(true);
    expect(cells.endsWith('✗')).toBe(true);
    await t.unmount();
  });
});

/** Shows the version and job count of the polled snapshot. */
function Probe({ controller, onRender }: { controller: FerryController; onRender: () => void }) {
  const s = useSnapshot(controller);
  onRender();
  return <Text>{`v${s.version} jobs:${s.jobs.length}`}</Text>;
}

describe('useSnapshot', () => {
  it('polls every 100 ms and re-renders only when the version moved', async () => {
    const c = new FakeController();
    let same = c.snapshot();
    const sameVersion = { ...c, snapshot: () => ({ ...same }) } as unknown as FerryController;
    const renders = vi.fn();
    const t = renderTui(<Probe controller={sameVersion} onRender={renders} />);
    expect(t.lastFrame()).toBe('v1 jobs:0');
    const before = renders.mock.calls.length;
    await t.advance(1000);
    expect(renders.mock.calls.length).toBe(before);
    same = { ...emptySnapshot(), version: 2, jobs: [job({ id: 'x' })] };
    await t.advance(99);
    expect(t.lastFrame()).toBe('v1 jobs:0');
    await t.advance(1);
    expect(t.lastFrame()).toBe('v2 jobs:1');
    expect(renders.mock.calls.length).toBe(before + 1);
    await t.unmount();
  });

  it('keeps the last snapshot when one poll throws', async () => {
    const c = new FakeController();
    let fail = false;
    const flaky = {
      snapshot: () => {
        if (fail) throw new Error('boom');
        return c.snapshot();
      },
    } as unknown as FerryController;
    const t = renderTui(<Probe controller={flaky} onRender={() => {}} />);
    fail = true;
    await t.advance(300);
    expect(t.lastFrame()).toBe('v1 jobs:0');
    fail = false;
    c.set({ jobs: [job({ id: 'y' })] });
    await t.advance(100);
    expect(t.lastFrame()).toBe('v2 jobs:1');
    await t.unmount();
  });
});

/** Shows the clock's time. */
function ClockProbe({ onRender }: { onRender: () => void }) {
  const now = useClock(1000);
  onRender();
  return <Text>{`t=${now}`}</Text>;
}

describe('useClock', () => {
  it('re-renders once a second when nothing else does', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval', 'Date'], now: 1_000_000 });
    const renders = vi.fn();
    const t = renderTui(<ClockProbe onRender={renders} />);
    expect(t.lastFrame()).toBe('t=1000000');
    await t.advance(999);
    expect(t.lastFrame()).toBe('t=1000000');
    await t.advance(1);
    expect(t.lastFrame()).toBe('t=1001000');
    for (let i = 0; i < 3; i++) await t.advance(1000);
    expect(t.lastFrame()).toBe('t=1004000');
    expect(renders).toHaveBeenCalledTimes(5);
    await t.unmount();
  });
});
