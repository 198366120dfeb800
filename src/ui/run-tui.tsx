/**
 * Entry point of the full-screen TUI. Ink 6 has no alternate-screen option
 * (DESIGN.md), so this switches to the alternate screen and hides the cursor
 * before rendering, and gives the terminal back on every way out: a quit
 * from the UI (q, Ctrl+C), SIGTERM/SIGHUP/SIGINT, a render error, an
 * uncaught exception, or `process.exit()` from anywhere.
 */
import { type Instance, type RenderOptions, render } from 'ink';
import type { FerryController } from '../app/controller.js';
import { App } from './App.js';

/** Switch to the alternate screen, hide the cursor. */
export const ENTER_SCREEN = '\u001B[?1049h\u001B[?25l';
/** Show the cursor, back to the normal screen. */
export const LEAVE_SCREEN = '\u001B[?25h\u001B[?1049l';

/**
 * How ink renders the TUI (the bench uses the same). Ctrl+C is a key the
 * reducer handles (it asks first when transfers run); console output would
 * tear the screen, so it is not patched; 15 frames a second at most.
 *
 * Not `incrementalRendering`: in ink 6.8.0 it is off by one line whenever
 * the frame is shorter than the terminal (always, here: rows − 1), because
 * it moves the cursor up one line too few before redrawing, so unchanged
 * lines keep a neighbour's old text and the picture drifts (seen under tmux,
 * and in run-tui.test.tsx through a terminal model). The standard renderer
 * redraws the whole frame inside a synchronized update (DEC 2026), which
 * terminals show without flicker.
 */
export const TUI_RENDER_OPTIONS = {
  exitOnCtrlC: false,
  maxFps: 15,
  incrementalRendering: false,
  patchConsole: false,
} as const satisfies RenderOptions;

/** Options of `runTui`. */
export interface RunTuiOptions {
  readonly stdout?: NodeJS.WriteStream;
  readonly stdin?: NodeJS.ReadStream;
  /** Quit cleanly on SIGTERM, SIGHUP and SIGINT (default true; tests turn it off). */
  readonly exitOnSignals?: boolean;
  /** Snapshot polling interval (default DEFAULT_POLL_MS, 125 ms). */
  readonly pollMs?: number;
}

type ExitReason =
  | { readonly kind: 'quit' }
  | { readonly kind: 'signal'; readonly signal: NodeJS.Signals }
  | { readonly kind: 'error'; readonly error: unknown };

const SIGNALS: readonly NodeJS.Signals[] = ['SIGTERM', 'SIGHUP', 'SIGINT'];
const SIGNAL_EXIT_CODE: Partial<Record<NodeJS.Signals, number>> = {
  SIGHUP: 129,
  SIGINT: 130,
  SIGTERM: 143,
};

/**
 * Run the TUI until the user quits (or a signal arrives), then await
 * `controller.close()` (unfinished jobs are recorded and resume next start)
 * and resolve. A second Ctrl+C or signal while closing stops waiting. After
 * a signal, `process.exitCode` is set to 128 + its number unless already set.
 * Rejects with the error after a render error, once the terminal is back.
 */
export async function runTui(controller: FerryController, opts: RunTuiOptions = {}): Promise<void> {
  const stdout = opts.stdout ?? process.stdout;
  const stdin = opts.stdin ?? process.stdin;
  let restored = false;
  const restore = () => {
    if (restored) return;
    restored = true;
    try {
      stdout.write(LEAVE_SCREEN);
    } catch {
      // stdout is gone (terminal closed): nothing left to restore.
    }
  };

  let finish: (r: ExitReason) => void = () => {};
  const exited = new Promise<ExitReason>((resolve) => {
    finish = resolve;
  });
  let force: () => void = () => {};
  const forced = new Promise<void>((resolve) => {
    force = resolve;
  });
  let quitting = false;
  const quit = (reason: ExitReason, hard: boolean) => {
    if (quitting || hard) force();
    quitting = true;
    finish(reason);
  };
  const onSignal = (signal: NodeJS.Signals) => quit({ kind: 'signal', signal }, false);
  const signals = opts.exitOnSignals === false ? [] : SIGNALS;

  stdout.write(ENTER_SCREEN);
  // The monitor runs before an uncaught exception ends the process; 'exit' covers process.exit().
  process.on('uncaughtExceptionMonitor', restore);
  process.on('exit', restore);
  for (const s of signals) process.on(s, onSignal);
  const cleanup = () => {
    for (const s of signals) process.off(s, onSignal);
    process.off('uncaughtExceptionMonitor', restore);
    process.off('exit', restore);
  };

  let instance: Instance;
  try {
    instance = render(
      <App
        controller={controller}
        onQuit={(hard) => quit({ kind: 'quit' }, hard)}
        pollMs={opts.pollMs}
      />,
      { stdout, stdin, ...TUI_RENDER_OPTIONS },
    );
  } catch (err) {
    restore();
    cleanup();
    throw err;
  }
  instance.waitUntilExit().then(
    () => quit({ kind: 'quit' }, false),
    (error: unknown) => quit({ kind: 'error', error }, false),
  );

  let closeError: unknown = null;
  let reason: ExitReason = { kind: 'quit' };
  try {
    reason = await exited;
    // The UI stays up ("Stopping transfers…") while the app records its jobs.
    await Promise.race([
      controller.close().catch((err: unknown) => {
        closeError = err;
      }),
      forced,
    ]);
  } finally {
    try {
      instance.unmount();
    } catch {
      // Already unmounted (render error).
    }
    restore();
    cleanup();
  }
  if (reason.kind === 'signal' && process.exitCode === undefined) {
    process.exitCode = SIGNAL_EXIT_CODE[reason.signal] ?? 1;
  }
  if (reason.kind === 'error') throw reason.error;
  if (closeError !== null) throw closeError;
}
