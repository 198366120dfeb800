/**
 * Runs the commands the reducer queued (each once, in order) and dispatches
 * their results. This is the only place the UI calls the controller.
 */
import { type Dispatch, useEffect, useRef } from 'react';
import { type CommandHost, runCommand } from './commands.js';
import type { Effect, UiAction } from './ui-state.js';

/** Run new `effects` against `host`, dispatching `effects-taken` and each result. */
export function useCommandRunner(
  effects: readonly Effect[],
  dispatch: Dispatch<UiAction>,
  host: CommandHost,
): void {
  const last = useRef(0);
  const hostRef = useRef(host);
  hostRef.current = host;
  useEffect(() => {
    const fresh = effects.filter((e) => e.seq > last.current);
    const newest = fresh.at(-1);
    if (!newest) return;
    last.current = newest.seq;
    dispatch({ type: 'effects-taken', through: newest.seq });
    for (const e of fresh) {
      void runCommand(hostRef.current, e).then((action) => {
        if (action) dispatch(action);
      });
    }
  }, [effects, dispatch]);
}
