import { describe, expect, it } from 'vitest';
import type { AppSnapshot } from '../../src/app/controller.js';
import { toUiKeys } from '../../src/ui/keys.js';
import { initialUiState, uiReducer, visibleDialog } from '../../src/ui/ui-reducer.js';
import type {
  Command,
  NamedKey,
  PanelId,
  UiKey,
  UiState,
  ViewContext,
} from '../../src/ui/ui-state.js';
import { emptySnapshot, job, offer, peer } from './fake-controller.js';

const ALL: PanelId[] = ['queue', 'peers', 'sessions'];

function snap(patch: Partial<AppSnapshot> = {}): AppSnapshot {
  return { ...emptySnapshot(), ...patch };
}

const three = snap({
  jobs: [
    job({ id: 'a' }),
    job({ id: 'b', state: 'queued' }),
    job({ id: 'c', state: 'done' }),
    job({ id: 'old', restored: true, state: 'paused' }),
  ],
  peers: [peer({ name: 'alice' }), peer({ name: 'bob', badge: 'new' }), peer({ name: 'carol' })],
});

/** Apply a chunk of typed text (as ink delivers it), or a named key written `<name>`. */
function press(state: UiState, s: AppSnapshot, input: string, panels: PanelId[] = ALL): UiState {
  const named = /^<([a-z-]+)>$/.exec(input);
  const keys: UiKey[] = named ? [{ kind: named[1] as NamedKey }] : toUiKeys(input, {});
  const view: ViewContext = { snapshot: s, panels };
  return uiReducer(state, { type: 'keys', keys, view });
}

function pressAll(state: UiState, s: AppSnapshot, ...inputs: string[]): UiState {
  return inputs.reduce((st, i) => press(st, s, i), state);
}

function commands(state: UiState): Command[] {
  return state.effects.map((e) => e.command);
}

const start = initialUiState();

describe('ui reducer: the main screen', () => {
  it('moves the selection with j/k and arrows, clamped, stored by id', () => {
    let s = press(start, three, 'j');
    expect(s.selection.queue).toEqual({ id: 'b', index: 1 });
    s = pressAll(s, three, '<down>', '<down>', '<down>');
    expect(s.selection.queue).toEqual({ id: 'c', index: 2 });
    s = pressAll(s, three, 'k', '<up>', '<up>', '<up>');
    expect(s.selection.queue).toEqual({ id: 'a', index: 0 });
    s = pressAll(s, three, 'G');
    expect(s.selection.queue.id).toBe('c');
    s = pressAll(s, three, 'g');
    expect(s.selection.queue.id).toBe('a');
  });

  it('keeps the selected job when the queue reorders, and falls back to its place when it is gone', () => {
    const s = press(start, three, 'j');
    const reordered = snap({ jobs: [job({ id: 'c' }), job({ id: 'a' }), job({ id: 'b' })] });
    const after = press(s, reordered, 'p');
    expect(commands(after)).toEqual([{ type: 'toggle-pause', id: 'b', label: 'b.bin' }]);
    const next = press(after, reordered, 'k');
    expect(next.selection.queue).toEqual({ id: 'a', index: 1 });
    const gone = snap({ jobs: [job({ id: 'x' }), job({ id: 'y' })] });
    expect(commands(press(next, gone, 'p')).at(-1)).toMatchObject({
      type: 'toggle-pause',
      id: 'y',
    });
  });

  it('cycles the focus with Tab and Shift+Tab over the panels on screen', () => {
    let s = press(start, three, '<tab>');
    expect(s.focus).toBe('peers');
    s = press(s, three, '<tab>');
    expect(s.focus).toBe('sessions');
    s = press(s, three, '<tab>');
    expect(s.focus).toBe('queue');
    s = press(s, three, '<backtab>');
    expect(s.focus).toBe('sessions');
    // On a small screen Sessions is hidden: the focus moves to a panel that shows.
    s = press(s, three, 'j', ['queue', 'peers']);
    expect(s.focus).toBe('queue');
    expect(s.selection.queue.id).toBe('b');
  });

  it('applies a fast multi-character chunk key by key: "jj\\r" on Peers opens Send to the third peer', () => {
    const peers = press(start, three, '<tab>');
    const s = press(peers, three, 'jj\r');
    expect(s.dialog).toMatchObject({
      kind: 'send',
      step: 'path',
      peer: three.peers[2]?.fingerprint,
    });
    // And "jx" then "y" cancels the second job, not the first.
    const c = pressAll(start, three, 'jx', 'y');
    expect(commands(c)).toEqual([{ type: 'cancel', id: 'b', label: 'b.bin' }]);
  });

  it('p pauses or resumes, R retries, + and - step the priority, P/U pause and resume all', () => {
    const s = pressAll(start, three, 'p', 'R', '+', '-', 'P', 'U');
    expect(commands(s)).toEqual([
      { type: 'toggle-pause', id: 'a', label: 'a.bin' },
      { type: 'retry-now', id: 'a', label: 'a.bin' },
      { type: 'set-priority', id: 'a', priority: 'high' },
      { type: 'set-priority', id: 'a', priority: 'low' },
      { type: 'pause-all' },
      { type: 'resume-all' },
    ]);
    const high = snap({ jobs: [job({ id: 'h', priority: 'high' })] });
    expect(commands(press(start, high, '+'))).toEqual([]);
  });

  it('x asks before cancelling; n keeps the transfer; a finished one cannot be cancelled', () => {
    const asked = press(start, three, 'x');
    expect(asked.dialog).toEqual({
      kind: 'confirm',
      action: { kind: 'cancel', id: 'a' },
      text: 'Cancel a.bin?',
    });
    expect(commands(press(asked, three, 'n'))).toEqual([]);
    expect(press(asked, three, 'n').dialog).toBeNull();
    expect(press(asked, three, '<escape>').dialog).toBeNull();
    expect(commands(press(asked, three, 'y'))).toEqual([
      { type: 'cancel', id: 'a', label: 'a.bin' },
    ]);
    const done = pressAll(start, three, 'G', 'x');
    expect(done.dialog).toBeNull();
    expect(done.status?.text).toContain('already finished');
  });

  it('d discards a finished job, refuses an unfinished one, and asks for a session', () => {
    expect(commands(pressAll(start, three, 'G', 'd'))).toEqual([
      { type: 'discard', id: 'c', label: 'c.bin' },
    ]);
    const refused = press(start, three, 'd');
    expect(commands(refused)).toEqual([]);
    expect(refused.status).toMatchObject({ level: 'error' });
    const sessions = pressAll(start, three, '<backtab>', 'd');
    expect(sessions.dialog).toMatchObject({
      kind: 'confirm',
      action: { kind: 'discard', id: 'old' },
    });
    expect(commands(press(sessions, three, 'y'))).toEqual([
      { type: 'discard', id: 'old', label: 'old.bin' },
    ]);
  });

  it('Enter or p on a session resumes it', () => {
    const s = pressAll(start, three, '<backtab>', '<return>', 'p');
    expect(commands(s)).toEqual([
      { type: 'resume', id: 'old', label: 'old.bin' },
      { type: 'resume', id: 'old', label: 'old.bin' },
    ]);
  });

  it('t trusts a new peer and says so for a known one', () => {
    const bob = pressAll(start, three, '<tab>', 'j', 't');
    expect(commands(bob)).toEqual([
      { type: 'trust-peer', fingerprint: three.peers[1]?.fingerprint, name: 'bob' },
    ]);
    const alice = pressAll(start, three, '<tab>', 't');
    expect(commands(alice)).toEqual([]);
    expect(alice.status?.text).toBe('alice is already trusted.');
  });

  it('? opens help, Esc or q closes it (q does not quit from help)', () => {
    const help = press(start, three, '?');
    expect(visibleDialog(help, three)).toEqual({ kind: 'help' });
    expect(press(help, three, '<escape>').dialog).toBeNull();
    const q = press(help, three, 'q');
    expect(q.dialog).toBeNull();
    expect(q.quitting).toBe(false);
    // Other keys do nothing while help is open.
    expect(press(help, three, 'j').selection.queue.id).toBeNull();
  });
});

describe('ui reducer: quitting', () => {
  const idle = snap({ jobs: [job({ id: 'd', state: 'done' }), job({ id: 'p', state: 'paused' })] });

  it('q quits at once when nothing is active', () => {
    const s = press(start, idle, 'q');
    expect(s.quitting).toBe(true);
    expect(commands(s)).toEqual([{ type: 'quit', force: false }]);
    // Keys after that are ignored.
    expect(press(s, idle, 's').dialog).toBeNull();
  });

  it('q asks when transfers are active (restored ones do not count); y quits, n does not', () => {
    const s = press(start, three, 'q');
    expect(s.dialog).toMatchObject({
      kind: 'confirm',
      text: '2 transfers active; they resume next time ferry starts. Quit?',
    });
    expect(press(s, three, 'n')).toMatchObject({ dialog: null, quitting: false, effects: [] });
    expect(commands(press(s, three, 'y'))).toEqual([{ type: 'quit', force: false }]);
  });

  it('Ctrl+C quits at once when idle, asks when active, quits on the second, forces on the third', () => {
    expect(commands(press(start, idle, '<ctrl-c>'))).toEqual([{ type: 'quit', force: false }]);
    const asked = press(start, three, '\u0003');
    expect(asked.dialog).toMatchObject({
      kind: 'confirm',
      action: { kind: 'quit', viaCtrlC: true },
    });
    const second = press(asked, three, '<ctrl-c>');
    expect(second.quitting).toBe(true);
    expect(commands(second)).toEqual([{ type: 'quit', force: false }]);
    expect(commands(press(second, three, '<ctrl-c>')).at(-1)).toEqual({
      type: 'quit',
      force: true,
    });
  });

  it('Ctrl+C works from inside any dialog', () => {
    const typing = pressAll(start, idle, 's', 'abc');
    expect(commands(press(typing, idle, '<ctrl-c>'))).toEqual([{ type: 'quit', force: false }]);
  });
});

describe('ui reducer: offers and new devices', () => {
  const offered = snap({
    ...three,
    offers: [offer({ id: 'o1' }), offer({ id: 'o2', known: false })],
  });

  it('shows the oldest offer; a accepts it, then the next shows; A and d answer too', () => {
    expect(visibleDialog(start, offered)).toMatchObject({ kind: 'offer', offer: { id: 'o1' } });
    const a = press(start, offered, 'a');
    expect(commands(a)).toEqual([{ type: 'answer-offer', id: 'o1', answer: 'accept' }]);
    expect(visibleDialog(a, offered)).toMatchObject({ kind: 'offer', offer: { id: 'o2' } });
    const always = press(a, offered, 'A');
    expect(commands(always).at(-1)).toEqual({ type: 'answer-offer', id: 'o2', answer: 'always' });
    expect(visibleDialog(always, offered)).toBeNull();
    expect(commands(press(start, offered, 'd'))).toEqual([
      { type: 'answer-offer', id: 'o1', answer: 'decline' },
    ]);
  });

  it('takes every key while shown (j does not move the queue, Esc does not dismiss)', () => {
    const s = pressAll(start, offered, 'j', '<escape>', 'q', 'x');
    expect(s.selection.queue.id).toBeNull();
    expect(s.effects).toEqual([]);
    expect(visibleDialog(s, offered)).toMatchObject({ kind: 'offer' });
  });

  it('waits behind a dialog the user opened', () => {
    const s = press(start, three, 'r');
    expect(visibleDialog(s, offered)?.kind).toBe('receive');
    expect(visibleDialog(press(s, offered, '<escape>'), offered)?.kind).toBe('offer');
  });

  it('forgets answered offers once the snapshot drops them', () => {
    const a = press(start, offered, 'a');
    expect(a.answered).toEqual(['offer:o1']);
    expect(press(a, three, 'j').answered).toEqual([]);
  });

  it('asks to compare the words for a send to a new device: y confirms, n cancels', () => {
    const s = snap({ jobs: [job({ id: 'a' }), job({ id: 'n', needsConfirm: true })] });
    expect(visibleDialog(start, s)).toMatchObject({ kind: 'confirm-peer', job: { id: 'n' } });
    const y = press(start, s, 'y');
    expect(commands(y)).toEqual([{ type: 'confirm-peer', id: 'n', ok: true }]);
    expect(visibleDialog(y, s)).toBeNull();
    expect(commands(press(start, s, 'n'))).toEqual([{ type: 'confirm-peer', id: 'n', ok: false }]);
    expect(commands(press(start, s, 'p'))).toEqual([]);
  });
});

describe('ui reducer: Send, Receive and Settings dialogs', () => {
  it('Send: types a path, goes on to the targets, and sends to the chosen peer', () => {
    let s = pressAll(start, three, 's', '/tmp/x');
    s = pressAll(s, three, '<backspace>', 'y');
    expect(s.dialog).toMatchObject({ kind: 'send', path: '/tmp/y' });
    s = press(s, three, '<return>');
    expect(s.dialog).toMatchObject({ step: 'target' });
    s = pressAll(s, three, 'j', '<return>');
    expect(commands(s)).toEqual([
      {
        type: 'send-to-peer',
        paths: ['/tmp/y'],
        peer: three.peers[1]?.fingerprint,
        peerName: 'bob',
      },
    ]);
    const seq = s.effects[0]?.seq ?? 0;
    expect(s.dialog).toMatchObject({ pending: seq });
    const failed = uiReducer(s, {
      type: 'command-failed',
      seq,
      command: commands(s)[0] as Command,
      message: 'no such file',
    });
    expect(failed.dialog).toMatchObject({ pending: null, error: 'no such file' });
    const ok = uiReducer(s, { type: 'command-ok', seq, command: commands(s)[0] as Command });
    expect(ok.dialog).toBeNull();
    expect(ok.status?.text).toBe('Queued /tmp/y → bob.');
  });

  it('Send: by code shows the code; an empty path is refused; Esc goes back a step', () => {
    let s = press(start, three, 's');
    s = press(s, three, '<return>');
    expect(s.dialog).toMatchObject({ step: 'path', error: 'Type a path to send (Tab completes).' });
    s = pressAll(s, three, 'docs', '<return>', '<escape>');
    expect(s.dialog).toMatchObject({ step: 'path', path: 'docs' });
    s = pressAll(s, three, '<return>', 'G', 'j', 'j', 'j', '<return>');
    expect(commands(s)).toEqual([{ type: 'send-by-code', paths: ['docs'] }]);
    const seq = s.effects[0]?.seq ?? 0;
    const shown = uiReducer(s, {
      type: 'command-ok',
      seq,
      command: commands(s)[0] as Command,
      code: '7-purple-sausage',
    });
    expect(shown.dialog).toMatchObject({ step: 'code', code: '7-purple-sausage', pending: null });
    expect(press(shown, three, '<return>').dialog).toBeNull();
  });

  it('Send: Tab asks for a completion, applied only if the path is unchanged', () => {
    let s = pressAll(start, three, 's', '/tm', '<tab>');
    expect(commands(s)).toEqual([{ type: 'complete-path', path: '/tm' }]);
    const done = uiReducer(s, {
      type: 'path-completed',
      input: '/tm',
      value: '/tmp/',
      candidates: [],
    });
    expect(done.dialog).toMatchObject({ path: '/tmp/' });
    s = press(s, three, 'p');
    const late = uiReducer(s, {
      type: 'path-completed',
      input: '/tm',
      value: '/tmp/',
      candidates: [],
    });
    expect(late.dialog).toMatchObject({ path: '/tmp' });
  });

  it('Send from a peer: Enter on the path sends to that peer directly', () => {
    const s = pressAll(start, three, '<tab>', '<return>', '~/a.txt', '<return>');
    expect(commands(s)).toEqual([
      {
        type: 'send-to-peer',
        paths: ['~/a.txt'],
        peer: three.peers[0]?.fingerprint,
        peerName: 'alice',
      },
    ]);
  });

  it('Receive: code, then the directory (defaulting to downloadDir), errors shown in the dialog', () => {
    let s = pressAll(start, three, 'r', '<return>');
    expect(s.dialog).toMatchObject({
      kind: 'receive',
      error: 'Type the code the sender reads out.',
    });
    s = pressAll(s, three, '7-purple', '<return>');
    expect(commands(s)).toEqual([
      { type: 'receive-by-code', code: '7-purple', dir: '/home/me/Downloads' },
    ]);
    const seq = s.effects[0]?.seq ?? 0;
    const bad = uiReducer(s, {
      type: 'command-failed',
      seq,
      command: commands(s)[0] as Command,
      message: 'malformed code',
    });
    expect(bad.dialog).toMatchObject({ error: 'malformed code', pending: null });
    const other = pressAll(start, three, 'r', '3-a-b', '<tab>', '<ctrl-u>', '/tmp/in', '<return>');
    expect(commands(other)).toEqual([{ type: 'receive-by-code', code: '3-a-b', dir: '/tmp/in' }]);
  });

  it('Settings: Enter edits the selected value, Enter saves, errors stay inline', () => {
    let s = pressAll(start, three, ',', 'j', '<return>');
    expect(s.dialog).toMatchObject({ editing: { key: 'autoResume', value: 'ask' } });
    s = pressAll(s, three, '<ctrl-u>', 'never', '<return>');
    expect(commands(s)).toEqual([{ type: 'set-setting', key: 'autoResume', value: 'never' }]);
    const seq = s.effects[0]?.seq ?? 0;
    const cmd = commands(s)[0] as Command;
    const bad = uiReducer(s, { type: 'command-failed', seq, command: cmd, message: 'bad value' });
    expect(bad.dialog).toMatchObject({ error: 'bad value', editing: { value: 'never' } });
    const ok = uiReducer(s, { type: 'command-ok', seq, command: cmd });
    expect(ok.dialog).toMatchObject({ kind: 'settings', editing: null });
    expect(press(ok, three, '<escape>').dialog).toBeNull();
    expect(press(start, three, 'S').dialog).toMatchObject({ kind: 'settings' });
  });
});

describe('ui reducer: effects and messages', () => {
  it('drops effects once taken, and a command failure outside a dialog becomes a message', () => {
    const s = pressAll(start, three, 'p', 'R');
    const taken = uiReducer(s, { type: 'effects-taken', through: s.effects[0]?.seq ?? 0 });
    expect(commands(taken)).toEqual([{ type: 'retry-now', id: 'a', label: 'a.bin' }]);
    const failed = uiReducer(taken, {
      type: 'command-failed',
      seq: 1,
      command: { type: 'toggle-pause', id: 'a', label: 'a.bin' },
      message: 'unknown job',
    });
    expect(failed.status).toMatchObject({ level: 'error', text: 'unknown job' });
    const id = failed.status?.id ?? -1;
    expect(uiReducer(failed, { type: 'status-expired', id: id + 1 }).status).not.toBeNull();
    expect(uiReducer(failed, { type: 'status-expired', id }).status).toBeNull();
  });
});
