import { resolve } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { App, DEFAULT_POLL_MS } from '../../src/ui/App.js';
import { SPINNER_FRAMES } from '../../src/ui/format.js';
import { ANIMATE_EVERY } from '../../src/ui/use-snapshot.js';
import { FakeController, file, job, offer, peer } from './fake-controller.js';
import { KEY, renderTui } from './render-tui.js';

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
});
afterEach(() => {
  vi.useRealTimers();
});

const alice = peer({ name: 'alice' });
const bob = peer({ name: 'bob', badge: 'new' });

function setup(c: FakeController, columns = 100, rows = 30) {
  const onQuit = vi.fn();
  const r = renderTui(<App controller={c} onQuit={onQuit} />, columns, rows);
  return { ...r, onQuit };
}

describe('App: sending', () => {
  it('sends to a peer with keys only: Tab to Peers, j, Enter, a path, Enter', async () => {
    const c = new FakeController({ peers: [alice, bob] });
    const t = setup(c);
    await t.type(KEY.tab, 'j', KEY.enter);
    expect(t.lastFrame()).toContain('Send to bob');
    await t.type('/tmp/report.pdf');
    expect(t.lastFrame()).toContain('Path /tmp/report.pdf█');
    await t.press(KEY.enter);
    expect(c.callsOf('sendToPeer')).toEqual([[['/tmp/report.pdf'], bob.fingerprint]]);
    expect(t.lastFrame()).toContain('Queued /tmp/report.pdf → bob.');
    expect(t.lastFrame()).not.toContain('Send to bob');
    await t.unmount();
  });

  it('s, a path, then a peer from the list', async () => {
    const c = new FakeController({ peers: [alice, bob] });
    const t = setup(c);
    await t.type('s', '/srv/a.iso', KEY.enter);
    expect(t.lastFrame()).toContain('Send /srv/a.iso to:');
    expect(t.lastFrame()).toMatch(/› ● alice/);
    expect(t.lastFrame()).toContain('# by code');
    await t.type(KEY.down, KEY.enter);
    expect(c.callsOf('sendToPeer')).toEqual([[['/srv/a.iso'], bob.fingerprint]]);
    await t.unmount();
  });

  it('sends by code and shows the code to read out', async () => {
    const c = new FakeController({ peers: [alice] });
    const t = setup(c);
    await t.type('s', 'docs', KEY.enter, 'j', KEY.enter);
    expect(c.callsOf('sendByCode')).toEqual([[[resolve('docs')]]]);
    const frame = t.lastFrame();
    expect(frame).toContain('Send by code');
    expect(frame).toContain('Read this code to the receiver:');
    expect(frame).toContain('7-purple-sausage-tiger');
    await t.press(KEY.enter);
    expect(t.lastFrame()).not.toContain('Read this code');
    await t.unmount();
  });

  it('shows a failed send in the dialog, and Tab completes the path', async () => {
    const c = new FakeController({ peers: [alice] });
    c.failures.set(
      'sendToPeer',
      new Error(
        '/nope: no such file or directory; check the path, or press Tab to see what is there, then try again',
      ),
    );
    const complete = vi.fn((p: string) => ({ value: `${p}pe/`, candidates: ['x/', 'y'] }));
    const onQuit = vi.fn();
    const t = renderTui(<App controller={c} onQuit={onQuit} complete={complete} />, 100, 30);
    await t.type(KEY.tab, KEY.enter, '/no', KEY.tab);
    expect(complete).toHaveBeenCalledWith('/no');
    expect(t.lastFrame()).toContain('Path /nope/█');
    expect(t.lastFrame()).toMatch(/^.* {4}x\/ +.*$/m);
    await t.press(KEY.enter);
    expect(t.lastFrame()).toContain('/nope: no such file or directory; check the path');
    expect(t.lastFrame()).toContain('then try again');
    expect(t.lastFrame()).toContain('Send to alice');
    await t.unmount();
  });
});

describe('App: receiving', () => {
  it('receives by code into the download directory', async () => {
    const c = new FakeController();
    const t = setup(c);
    await t.press('r');
    expect(t.lastFrame()).toContain('Receive by code');
    expect(t.lastFrame()).toContain('Save to /home/me/Downloads');
    await t.type('7-purple-sausage', KEY.enter);
    expect(c.callsOf('receiveByCode')).toEqual([['7-purple-sausage', '/home/me/Downloads']]);
    expect(t.lastFrame()).toContain('Receiving with code 7-purple-sausage.');
    await t.unmount();
  });

  it('names the empty folders an offer brings', async () => {
    const c = new FakeController();
    const t = setup(c);
    c.set({ offers: [offer({ id: 'o1', folders: 2 })] });
    await t.advance(DEFAULT_POLL_MS);
    expect(t.lastFrame()).toContain('wants to send 2 files, 3.0 KiB and 2 empty folders');
    c.set({ offers: [offer({ id: 'o2', folders: 1 })] });
    await t.advance(DEFAULT_POLL_MS);
    expect(t.lastFrame()).toContain('and 1 empty folder');
    await t.unmount();
  });

  it('shows a malformed code error in the dialog and stays open', async () => {
    const c = new FakeController();
    c.failures.set('receiveByCode', new Error('malformed code: expected a number and words'));
    const t = setup(c);
    await t.type('r', 'purple', KEY.enter);
    expect(t.lastFrame()).toContain('malformed code: expected a number and words');
    expect(t.lastFrame()).toContain('Receive by code');
    await t.unmount();
  });

  it('pops up an incoming offer with the words, files and target; a accepts', async () => {
    const c = new FakeController();
    const t = setup(c);
    const files = Array.from({ length: 11 }, (_, i) => ({ path: `photo-${i}.jpg`, size: 2048 }));
    c.set({
      offers: [offer({ id: 'o1', known: false, peerName: 'bob', files, total: 11 * 2048 })],
    });
    await t.advance(DEFAULT_POLL_MS);
    const frame = t.lastFrame();
    expect(frame).toContain('Incoming files');
    expect(frame).toContain('bob (abab-abab) NEW DEVICE');
    expect(frame).toContain('wants to send 11 files, 22 KiB');
    expect(frame).toContain('Words: apple banana cherry delta');
    expect(frame).toContain('Compare these words with the sender');
    expect(frame).toContain('photo-7.jpg');
    expect(frame).not.toContain('photo-8.jpg');
    expect(frame).toContain('…and 3 more');
    expect(frame).toContain('Total 22 KiB → /home/me/Downloads');
    await t.press('a');
    expect(c.callsOf('answerOffer')).toEqual([['o1', 'accept']]);
    expect(t.lastFrame()).not.toContain('Incoming files');
    await t.unmount();
  });

  it('A always accepts a known peer', async () => {
    const c = new FakeController({ offers: [offer({ id: 'o2' })] });
    const t = setup(c);
    expect(t.lastFrame()).toContain('alice (abab-abab) known device');
    expect(t.lastFrame()).not.toContain('Compare these words');
    await t.press('A');
    expect(c.callsOf('answerOffer')).toEqual([['o2', 'always']]);
    await t.unmount();
  });
});

describe('App: the queue', () => {
  const running = () =>
    new FakeController({
      peers: [alice],
      jobs: [
        job({ id: 'a', label: 'a.bin' }),
        job({ id: 'b', label: 'b.bin', state: 'done', bytesDone: 100 * 1024 * 1024 }),
      ],
    });

  it('asks to compare the words before a send to a new device; y confirms', async () => {
    const c = running();
    const t = setup(c);
    c.set({
      jobs: [
        job({
          id: 'n',
          label: 'plan.pdf',
          peer: 'bob',
          needsConfirm: true,
          handshake: {
            suite: 'x',
            sas: 'river stone maple',
            fingerprint: 'ef'.repeat(32),
            usedCode: false,
          },
        }),
      ],
    });
    await t.advance(DEFAULT_POLL_MS);
    expect(t.lastFrame()).toContain('Compare the words');
    expect(t.lastFrame()).toContain('Sending plan.pdf to bob, a new device.');
    expect(t.lastFrame()).toContain('Words: river stone maple');
    await t.press('y');
    expect(c.callsOf('confirmPeer')).toEqual([['n', true]]);
    expect(t.lastFrame()).not.toContain('Compare the words');
    await t.unmount();
  });

  it('p pauses or resumes the selected job; a controller error shows in the footer', async () => {
    const c = running();
    const t = setup(c);
    await t.press('p');
    expect(c.callsOf('togglePause')).toEqual([['a']]);
    c.failures.set('togglePause', new Error('no such job: a'));
    await t.press('p');
    expect(t.lastFrame()).toContain('no such job: a');
    await t.unmount();
  });

  it('x asks before cancelling; y cancels', async () => {
    const c = running();
    const t = setup(c);
    await t.press('x');
    expect(t.lastFrame()).toContain('Cancel a.bin?');
    expect(t.lastFrame()).toContain('y yes · n no');
    expect(c.callsOf('cancel')).toEqual([]);
    await t.press('y');
    expect(c.callsOf('cancel')).toEqual([['a']]);
    await t.unmount();
  });

  it('d discards a finished job; +, - and R act on the selection', async () => {
    const c = running();
    const t = setup(c);
    await t.type('+', 'R', 'j', 'd');
    expect(c.callsOf('setPriority')).toEqual([['a', 'high']]);
    expect(c.callsOf('retryNow')).toEqual([['a']]);
    expect(c.callsOf('discard')).toEqual([['b']]);
    await t.unmount();
  });

  it('resumes a session restored after a restart with Enter in Sessions', async () => {
    const c = new FakeController({
      jobs: [job({ id: 'old', label: 'backup.tar', restored: true, state: 'paused' })],
    });
    const t = setup(c);
    expect(t.lastFrame()).toContain('Sessions (1)');
    expect(t.lastFrame()).toMatch(/backup\.tar +45%/);
    await t.type(KEY.shiftTab, KEY.enter);
    expect(c.callsOf('resume')).toEqual([['old']]);
    await t.type('d');
    expect(t.lastFrame()).toContain('Discard the session backup.tar?');
    await t.press('y');
    expect(c.callsOf('discard')).toEqual([['old']]);
    await t.unmount();
  });

  it('fast typing: "jj\\r" in one chunk on Peers opens Send for the third peer', async () => {
    const carol = peer({ name: 'carol' });
    const c = new FakeController({ peers: [alice, bob, carol] });
    const t = setup(c);
    await t.press(KEY.tab);
    await t.press('jj\r');
    expect(t.lastFrame()).toContain('Send to carol');
    await t.unmount();
  });
});

describe('App: the footer', () => {
  it('shows a fresh controller notice, and says when an offer waits behind a dialog', async () => {
    const c = new FakeController();
    const t = setup(c);
    c.set({
      notices: [{ id: 1, at: Date.now(), level: 'warn', text: 'relay unreachable: retrying' }],
    });
    await t.advance(DEFAULT_POLL_MS);
    expect(t.lastFrame()).toContain('relay unreachable: retrying');
    c.set({
      notices: [
        { id: 1, at: Date.now() - 60_000, level: 'warn', text: 'relay unreachable: retrying' },
      ],
    });
    await t.advance(DEFAULT_POLL_MS);
    expect(t.lastFrame()).not.toContain('relay unreachable');
    expect(t.lastFrame()).toContain('↑↓ select · Tab panel');
    await t.press('r');
    c.set({ offers: [offer({ id: 'o', peerName: 'bob' })] });
    await t.advance(DEFAULT_POLL_MS);
    expect(t.lastFrame()).toContain('Receive by code');
    expect(t.lastFrame()).toContain('Incoming offer from bob: close this dialog to answer it.');
    await t.press(KEY.escape);
    expect(t.lastFrame()).toContain('Incoming files');
    await t.unmount();
  });
});

describe('App: help, settings, quitting', () => {
  it('? shows every key; Esc closes', async () => {
    const t = setup(new FakeController());
    await t.press('?');
    const frame = t.lastFrame();
    for (const k of ['Keys', 'Tab / Shift+Tab', 'x (asks first)', 'A always accept', 'Ctrl+C']) {
      expect(frame).toContain(k);
    }
    await t.press(KEY.escape);
    expect(t.lastFrame()).not.toContain('Tab / Shift+Tab');
    await t.unmount();
  });

  it('edits a setting and shows its error inline', async () => {
    const c = new FakeController();
    const t = setup(c);
    await t.press(',');
    expect(t.lastFrame()).toMatch(/› maxConcurrent +3 +transfers at once/);
    c.failures.set('setSetting', new Error('maxConcurrent: must be 1 to 16'));
    await t.type(KEY.enter, '\u0015', '99', KEY.enter);
    expect(c.callsOf('setSetting')).toEqual([['maxConcurrent', '99']]);
    expect(t.lastFrame()).toContain('maxConcurrent: must be 1 to 16');
    c.failures.delete('setSetting');
    await t.type(KEY.backspace, KEY.enter);
    expect(c.callsOf('setSetting').at(-1)).toEqual(['maxConcurrent', '9']);
    expect(t.lastFrame()).toContain('maxConcurrent set to 9.');
    await t.unmount();
  });

  it('q with transfers active asks first; y quits', async () => {
    const c = new FakeController({ jobs: [job({ id: 'a' })] });
    const t = setup(c);
    await t.press('q');
    expect(t.lastFrame()).toContain('1 transfer active; it resumes next time ferry starts. Quit?');
    expect(t.onQuit).not.toHaveBeenCalled();
    await t.press('n');
    expect(t.onQuit).not.toHaveBeenCalled();
    await t.type('q', 'y');
    expect(t.onQuit).toHaveBeenCalledWith(false);
    expect(t.lastFrame()).toContain('Stopping transfers and saving sessions…');
    await t.unmount();
  });

  it('q with nothing active quits at once; Ctrl+C twice while active quits', async () => {
    const idle = setup(new FakeController({ jobs: [job({ id: 'p', state: 'paused' })] }));
    await idle.press('q');
    expect(idle.onQuit).toHaveBeenCalledWith(false);
    await idle.unmount();
    const busy = setup(new FakeController({ jobs: [job({ id: 'a' })] }));
    await busy.press(KEY.ctrlC);
    expect(busy.lastFrame()).toContain('Ctrl+C again quits');
    await busy.press(KEY.ctrlC);
    expect(busy.onQuit).toHaveBeenCalledWith(false);
    await busy.press(KEY.ctrlC);
    expect(busy.onQuit).toHaveBeenLastCalledWith(true);
    await busy.unmount();
  });
});

describe('App: sizes', () => {
  const busy = () =>
    new FakeController({
      peers: [alice, bob],
      jobs: [
        job({
          id: 'a',
          label: 'a-very-long-file-name-that-will-not-fit.tar.gz',
          files: [file('x', '3210')],
        }),
        job({ id: 'q', state: 'queued' }),
        job({ id: 'r', restored: true }),
      ],
      offers: [],
    });

  function expectFits(frame: string, columns: number, rows: number) {
    const lines = frame.split('\n');
    expect(lines.length).toBeLessThanOrEqual(rows - 1);
    for (const l of lines) expect([...l].length).toBeLessThanOrEqual(columns);
  }

  it('renders every panel and the status line at 80×24', async () => {
    const t = setup(busy(), 80, 24);
    const frame = t.lastFrame();
    expectFits(frame, 80, 24);
    expect(frame.split('\n')).toHaveLength(23);
    for (const title of ['Queue (2)', 'Peers (2/2)', 'Sessions (1)', 'Detail']) {
      expect(frame).toContain(title);
    }
    expect(frame).toContain('laptop cdcd-cdcd │ relay reachable │ LAN on │ ? help · q quit');
    expect(frame).toContain('› ↑  a-very-long-file-name… alice');
    expect(frame).toContain('│█▒░·  ');
    expect(frame).toContain('· pending ░ in flight ▒ written █ verified ✗ failed│');
    await t.unmount();
  });

  it('degrades at 40×10 (Queue and Peers) and below without throwing', async () => {
    const t = setup(busy(), 40, 10);
    const frame = t.lastFrame();
    expectFits(frame, 40, 10);
    expect(frame).toContain('Queue');
    expect(frame).toContain('Peers');
    expect(frame).not.toContain('Detail');
    await t.press('?');
    expectFits(t.lastFrame(), 40, 10);
    expect(t.lastFrame()).toContain('Esc, ? or q closes');
    await t.unmount();
    for (const [w, h] of [
      [20, 5],
      [10, 3],
      [1, 1],
    ] as const) {
      const tiny = setup(busy(), w, h);
      await tiny.type('s', 'x', KEY.tab, '?');
      await tiny.unmount();
    }
  });

  it('follows a resize', async () => {
    const t = setup(busy(), 100, 30);
    expect(t.lastFrame()).toContain('Detail');
    await t.resize(40, 10);
    expect(t.lastFrame()).not.toContain('Detail');
    expectFits(t.lastFrame(), 40, 10);
    await t.unmount();
  });
});

describe('App: spinners', () => {
  const spinnerOf = (frame: string, label: string) => {
    const row = frame.split('\n').find((l) => l.includes(label)) ?? '';
    return [...row].filter((c) => SPINNER_FRAMES.includes(c));
  };

  it('turns the spinner of every waiting row one frame per ANIMATE_EVERY polls, with no timer of its own', async () => {
    const c = new FakeController({
      jobs: [
        job({ id: 'q', label: 'queued.bin', state: 'queued' }),
        job({ id: 'w', label: 'wait.bin', state: 'waiting-for-peer' }),
      ],
    });
    const t = setup(c);
    const seen: string[] = [];
    for (let i = 0; i < 4; i++) {
      const q = spinnerOf(t.lastFrame(), 'queued.bin');
      expect(q).toHaveLength(1);
      expect(spinnerOf(t.lastFrame(), 'wait.bin')).toEqual(q);
      seen.push(q[0] ?? '');
      const frames = t.stdout.frames.length;
      // Nothing but the spinners would change: only every third poll draws.
      for (let p = 1; p < ANIMATE_EVERY; p++) await t.advance(DEFAULT_POLL_MS);
      await t.advance(DEFAULT_POLL_MS - 1);
      expect(t.stdout.frames.length).toBe(frames);
      await t.advance(1);
    }
    expect(seen).toEqual([...SPINNER_FRAMES.slice(0, 4)]);
    // A spinner is not a timer: the poll and the clock are the only ones.
    expect(vi.getTimerCount()).toBe(2);
    await t.unmount();
  });

  it('draws nothing new while nothing waits and the snapshot stands still', async () => {
    const c = new FakeController({ jobs: [job({ id: 'a', label: 'a.bin' })] });
    const t = setup(c);
    const frames = t.stdout.frames.length;
    await t.advance(DEFAULT_POLL_MS * 9);
    expect(t.stdout.frames.length).toBe(frames);
    c.set({ jobs: [job({ id: 'a', label: 'a.bin', state: 'queued' })] });
    await t.advance(DEFAULT_POLL_MS);
    expect(spinnerOf(t.lastFrame(), 'a.bin')).toHaveLength(1);
    // Then one frame per ANIMATE_EVERY polls (advanced poll by poll: act()
    // would batch several into one commit).
    for (let i = 0; i < 3 * ANIMATE_EVERY; i++) await t.advance(DEFAULT_POLL_MS);
    expect(t.stdout.frames.length).toBe(frames + 4);
    await t.unmount();
  });

  it('draws every poll while the snapshot moves, spinners included', async () => {
    const c = new FakeController({
      jobs: [job({ id: 'w', label: 'wait.bin', state: 'waiting-for-peer' })],
    });
    const t = setup(c);
    const before = spinnerOf(t.lastFrame(), 'wait.bin');
    const frames = t.stdout.frames.length;
    for (let i = 0; i < 3; i++) {
      c.set({
        jobs: [
          job({ id: 'w', label: 'wait.bin', state: 'waiting-for-peer' }),
          job({ id: `n${i}`, label: `new-${i}.bin` }),
        ],
      });
      await t.advance(DEFAULT_POLL_MS);
    }
    expect(t.stdout.frames.length).toBe(frames + 3);
    expect(spinnerOf(t.lastFrame(), 'wait.bin')).not.toEqual(before);
    await t.unmount();
  });
});
