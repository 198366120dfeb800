/**
 * The TUI's reducer: every key and every command result goes through here.
 * It never calls the controller; it queues `effects` that the component runs
 * (use-command-runner.ts) and whose results come back as actions. So a burst
 * of keys ("jjj\r") is applied in order to the latest state, and what Enter
 * opens is the row the `j`s moved to.
 */
import type { AppSnapshot } from '../app/controller.js';
import type { Priority } from '../engine/queue/scheduler.js';
import { dialogKey } from './dialog-keys.js';
import { emitOnly, say } from './reducer-core.js';
import {
  activeCount,
  isFinal,
  panelIds,
  resolveIndex,
  selectedJob,
  selectedPeer,
} from './selectors.js';
import type { Command, UiAction, UiKey, UiState, ViewContext, VisibleDialog } from './ui-state.js';

/** The state the TUI starts in: Queue focused, nothing open. */
export function initialUiState(): UiState {
  const none = { id: null, index: 0 };
  return {
    focus: 'queue',
    selection: { queue: none, peers: none, sessions: none },
    dialog: null,
    answered: [],
    status: null,
    effects: [],
    nextSeq: 1,
    quitting: false,
  };
}

/** The dialog on screen: the user's, else the oldest unanswered offer, else a send awaiting the words check. */
export function visibleDialog(state: UiState, s: AppSnapshot): VisibleDialog | null {
  if (state.dialog) return state.dialog;
  if (state.quitting) return null;
  const offer = s.offers.find((o) => !state.answered.includes(`offer:${o.id}`));
  if (offer) return { kind: 'offer', offer };
  const job = s.jobs.find((j) => j.needsConfirm && !state.answered.includes(`confirm:${j.id}`));
  if (job) return { kind: 'confirm-peer', job };
  return null;
}

const PRIORITIES: readonly Priority[] = ['low', 'normal', 'high'];
const PAGE = 5;

function move(state: UiState, view: ViewContext, delta: number | 'first' | 'last'): UiState {
  const panel = state.focus;
  const ids = panelIds(view.snapshot, panel);
  if (ids.length === 0) return state;
  const at = resolveIndex(state.selection[panel], ids);
  const next =
    delta === 'first'
      ? 0
      : delta === 'last'
        ? ids.length - 1
        : Math.min(Math.max(0, at + delta), ids.length - 1);
  return {
    ...state,
    selection: { ...state.selection, [panel]: { id: ids[next] ?? null, index: next } },
  };
}

function cycleFocus(state: UiState, view: ViewContext, step: 1 | -1): UiState {
  const panels = view.panels;
  if (panels.length === 0) return state;
  const at = panels.indexOf(state.focus);
  const next = at < 0 ? 0 : (at + step + panels.length) % panels.length;
  return { ...state, focus: panels[next] ?? state.focus };
}

function quit(state: UiState, view: ViewContext, viaCtrlC: boolean): UiState {
  const n = activeCount(view.snapshot);
  if (n === 0) return emitOnly({ ...state, quitting: true, dialog: null }, quitCommand);
  const text =
    `${n} transfer${n === 1 ? '' : 's'} active; ${n === 1 ? 'it resumes' : 'they resume'} ` +
    'next time ferry starts. Quit?';
  return { ...state, dialog: { kind: 'confirm', action: { kind: 'quit', viaCtrlC }, text } };
}

const quitCommand: Command = { type: 'quit', force: false };

function onCtrlC(state: UiState, view: ViewContext): UiState {
  if (state.quitting) return emitOnly(state, { type: 'quit', force: true });
  const d = state.dialog;
  if (d?.kind === 'confirm' && d.action.kind === 'quit') {
    return emitOnly({ ...state, quitting: true, dialog: null }, quitCommand);
  }
  return quit(state, view, true);
}

/** Keys on the Queue panel that act on the selected job. */
function queueKey(state: UiState, key: UiKey, view: ViewContext): UiState {
  const job = selectedJob(view.snapshot, 'queue', state.selection.queue);
  if (!job || key.kind !== 'char') return state;
  const { id, label } = job;
  switch (key.ch) {
    case 'p':
      return emitOnly(state, { type: 'toggle-pause', id, label });
    case 'x':
      if (isFinal(job)) return say(state, `${label} has already finished (d discards it).`);
      return {
        ...state,
        dialog: { kind: 'confirm', action: { kind: 'cancel', id }, text: `Cancel ${label}?` },
      };
    case 'R':
      return emitOnly(state, { type: 'retry-now', id, label });
    case 'd':
      if (!isFinal(job)) {
        return say(state, `${label} is not finished: x cancels it first.`, 'error');
      }
      return emitOnly(state, { type: 'discard', id, label });
    case '+':
    case '=':
    case '-':
    case '_': {
      const step = key.ch === '+' || key.ch === '=' ? 1 : -1;
      const at = PRIORITIES.indexOf(job.priority);
      const priority = PRIORITIES[Math.min(Math.max(0, at + step), PRIORITIES.length - 1)];
      if (!priority || priority === job.priority) return state;
      return emitOnly(state, { type: 'set-priority', id, priority });
    }
    default:
      return state;
  }
}

/** Keys on the Sessions panel: resume or discard the selected earlier session. */
function sessionsKey(state: UiState, key: UiKey, view: ViewContext): UiState {
  const job = selectedJob(view.snapshot, 'sessions', state.selection.sessions);
  if (!job) return state;
  if (key.kind === 'return' || (key.kind === 'char' && key.ch === 'p')) {
    return emitOnly(state, { type: 'resume', id: job.id, label: job.label });
  }
  if (key.kind === 'char' && key.ch === 'd') {
    const text = `Discard the session ${job.label}? What was received so far is forgotten.`;
    return { ...state, dialog: { kind: 'confirm', action: { kind: 'discard', id: job.id }, text } };
  }
  return state;
}

/** Keys on the Peers panel: Enter sends to the selected peer, t trusts it. */
function peersKey(state: UiState, key: UiKey, view: ViewContext): UiState {
  const peer = selectedPeer(view.snapshot, state.selection.peers);
  if (!peer) return state;
  if (key.kind === 'return') return openSend(state, view, peer.fingerprint);
  if (key.kind === 'char' && key.ch === 't') {
    if (peer.badge === 'known') return say(state, `${peer.name} is already trusted.`);
    return emitOnly(state, { type: 'trust-peer', fingerprint: peer.fingerprint, name: peer.name });
  }
  return state;
}

function openSend(state: UiState, view: ViewContext, peer: string | null): UiState {
  const first = view.snapshot.peers[0]?.fingerprint ?? null;
  return {
    ...state,
    dialog: {
      kind: 'send',
      step: 'path',
      path: '',
      candidates: [],
      target: { id: first, index: 0 },
      peer,
      pending: null,
      error: null,
      code: null,
    },
  };
}

function mainKey(state: UiState, key: UiKey, view: ViewContext): UiState {
  const ch = key.kind === 'char' ? key.ch : null;
  if (key.kind === 'up' || ch === 'k') return move(state, view, -1);
  if (key.kind === 'down' || ch === 'j') return move(state, view, 1);
  if (key.kind === 'pageup') return move(state, view, -PAGE);
  if (key.kind === 'pagedown') return move(state, view, PAGE);
  if (key.kind === 'home' || ch === 'g') return move(state, view, 'first');
  if (key.kind === 'end' || ch === 'G') return move(state, view, 'last');
  if (key.kind === 'tab' || key.kind === 'right') return cycleFocus(state, view, 1);
  if (key.kind === 'backtab' || key.kind === 'left') return cycleFocus(state, view, -1);
  switch (ch) {
    case 's':
      return openSend(state, view, null);
    case 'r':
      return {
        ...state,
        dialog: {
          kind: 'receive',
          field: 'code',
          code: '',
          dir: view.snapshot.downloadDir,
          pending: null,
          error: null,
        },
      };
    case '?':
      return { ...state, dialog: { kind: 'help' } };
    case ',':
    case 'S':
      return {
        ...state,
        dialog: { kind: 'settings', index: 0, editing: null, pending: null, error: null },
      };
    case 'P':
      return emitOnly(state, { type: 'pause-all' });
    case 'U':
      return emitOnly(state, { type: 'resume-all' });
    case 'q':
      return quit(state, view, false);
  }
  if (state.focus === 'queue') return queueKey(state, key, view);
  if (state.focus === 'sessions') return sessionsKey(state, key, view);
  return peersKey(state, key, view);
}

function pruneAnswered(state: UiState, s: AppSnapshot): UiState {
  if (state.answered.length === 0) return state;
  const live = new Set([
    ...s.offers.map((o) => `offer:${o.id}`),
    ...s.jobs.filter((j) => j.needsConfirm).map((j) => `confirm:${j.id}`),
  ]);
  const answered = state.answered.filter((a) => live.has(a));
  return answered.length === state.answered.length ? state : { ...state, answered };
}

function reduceKey(state: UiState, key: UiKey, view: ViewContext): UiState {
  if (key.kind === 'ctrl-c') return onCtrlC(state, view);
  if (state.quitting) return state;
  const dialog = visibleDialog(state, view.snapshot);
  if (dialog) return dialogKey(state, dialog, key, view);
  return mainKey(state, key, view);
}

function onCommandOk(state: UiState, action: Extract<UiAction, { type: 'command-ok' }>): UiState {
  const { command, seq } = action;
  const d = state.dialog;
  const mine = d !== null && 'pending' in d && d.pending === seq;
  switch (command.type) {
    case 'send-to-peer': {
      const s = mine ? { ...state, dialog: null } : state;
      return say(s, `Queued ${command.paths.join(', ')} → ${command.peerName}.`);
    }
    case 'send-by-code':
      if (mine && d.kind === 'send') {
        return { ...state, dialog: { ...d, step: 'code', pending: null, code: action.code ?? '' } };
      }
      return say(state, `Send queued; code to read out: ${action.code ?? '?'}`);
    case 'receive-by-code':
      return say(mine ? { ...state, dialog: null } : state, `Receiving with code ${command.code}.`);
    case 'set-setting': {
      const s =
        mine && d.kind === 'settings'
          ? { ...state, dialog: { ...d, editing: null, pending: null } }
          : state;
      return say(s, `${command.key} set to ${command.value}.`);
    }
    case 'trust-peer':
      return say(state, `${command.name} is now trusted.`);
    case 'discard':
      return say(state, `Discarded ${command.label}.`);
    default:
      return state;
  }
}

function onCommandFailed(
  state: UiState,
  action: Extract<UiAction, { type: 'command-failed' }>,
): UiState {
  const d = state.dialog;
  if (d !== null && 'pending' in d && d.pending === action.seq) {
    return { ...state, dialog: { ...d, pending: null, error: action.message } };
  }
  return say(state, action.message, 'error');
}

/** The reducer. Pure: same state and action, same result. */
export function uiReducer(state: UiState, action: UiAction): UiState {
  switch (action.type) {
    case 'keys': {
      let s = pruneAnswered(state, action.view.snapshot);
      // A panel hidden on a small screen cannot keep the focus.
      const panels = action.view.panels;
      if (panels.length > 0 && !panels.includes(s.focus)) s = { ...s, focus: panels[0] ?? s.focus };
      for (const key of action.keys) s = reduceKey(s, key, action.view);
      return s;
    }
    case 'effects-taken':
      return { ...state, effects: state.effects.filter((e) => e.seq > action.through) };
    case 'command-ok':
      return onCommandOk(state, action);
    case 'command-failed':
      return onCommandFailed(state, action);
    case 'path-completed': {
      const d = state.dialog;
      if (d?.kind !== 'send' || d.step !== 'path' || d.path !== action.input) return state;
      return { ...state, dialog: { ...d, path: action.value, candidates: action.candidates } };
    }
    case 'status-expired':
      return state.status?.id === action.id ? { ...state, status: null } : state;
  }
}
