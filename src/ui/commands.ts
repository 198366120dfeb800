/**
 * Runs the reducer's commands against the controller and turns the outcome
 * into an action. A command that throws, or whose promise rejects, becomes a
 * `command-failed` action (shown in its dialog or the footer): the UI never
 * crashes on a controller error.
 */
import type { FerryController } from '../app/controller.js';
import type { Completion } from './path-completion.js';
import type { Effect, UiAction } from './ui-state.js';

/** What commands run against: the controller plus the UI's own side effects. */
export interface CommandHost {
  readonly controller: FerryController;
  /** Leave the TUI (`force`: do not wait for transfers to be saved). */
  readonly onQuit: (force: boolean) => void;
  /** Tab completion of a path. */
  readonly complete: (path: string) => Completion;
  /** A typed path (`~/x`, `docs`) made absolute. */
  readonly expand: (path: string) => string;
}

/** The message to show for a thrown value. */
export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message || err.name;
  return String(err);
}

/** Run one effect; resolves to the action to dispatch (never rejects). */
export async function runCommand(host: CommandHost, effect: Effect): Promise<UiAction | null> {
  const { seq, command: c } = effect;
  const ctl = host.controller;
  try {
    switch (c.type) {
      case 'complete-path':
        return { type: 'path-completed', input: c.path, ...host.complete(c.path) };
      case 'quit':
        host.onQuit(c.force);
        return null;
      case 'send-by-code': {
        const { code } = await ctl.sendByCode(c.paths.map(host.expand));
        return { type: 'command-ok', seq, command: c, code };
      }
      case 'send-to-peer':
        await ctl.sendToPeer(c.paths.map(host.expand), c.peer);
        break;
      case 'receive-by-code':
        await ctl.receiveByCode(c.code, host.expand(c.dir));
        break;
      case 'answer-offer':
        ctl.answerOffer(c.id, c.answer);
        break;
      case 'confirm-peer':
        ctl.confirmPeer(c.id, c.ok);
        break;
      case 'toggle-pause':
        ctl.togglePause(c.id);
        break;
      case 'resume':
        ctl.resume(c.id);
        break;
      case 'cancel':
        ctl.cancel(c.id);
        break;
      case 'retry-now':
        ctl.retryNow(c.id);
        break;
      case 'discard':
        ctl.discard(c.id);
        break;
      case 'set-priority':
        ctl.setPriority(c.id, c.priority);
        break;
      case 'pause-all':
        ctl.pauseAll();
        break;
      case 'resume-all':
        ctl.resumeAll();
        break;
      case 'trust-peer':
        ctl.trustPeer(c.fingerprint);
        break;
      case 'set-setting':
        ctl.setSetting(c.key, c.value);
        break;
    }
    return { type: 'command-ok', seq, command: c };
  } catch (err) {
    return { type: 'command-failed', seq, command: c, message: errorMessage(err) };
  }
}
