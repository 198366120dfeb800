/**
 * Renders ink trees for tests at a chosen terminal size (ink-testing-library
 * fixes 100 columns and no rows), with key presses and cleanup wrapped in
 * `act()` as DESIGN.md asks. Frames are ink's debug frames: the whole screen.
 */
import { type Instance, render } from 'ink';
import { act, type ReactNode } from 'react';
import { vi } from 'vitest';
import { TestStdin, TestStdout } from './test-streams.js';

export { KEY, stripAnsi, TestStdin, TestStdout } from './test-streams.js';

(globalThis as { IS_REACT_ACT_ENVIRONMENT?: boolean }).IS_REACT_ACT_ENVIRONMENT = true;

/** Let pending promises (controller calls) settle. */
export function settle(): Promise<void> {
  return new Promise((r) => setImmediate(r));
}

/** A rendered tree and ways to drive it. */
export interface Rendered {
  readonly stdout: TestStdout;
  readonly stdin: TestStdin;
  lastFrame(): string;
  /** Write keys (one chunk, as a fast typist or a paste), then let effects and promises settle. */
  press(keys: string): Promise<void>;
  /** Each string as its own chunk. */
  type(...chunks: string[]): Promise<void>;
  /** Advance faked intervals by `ms` (snapshot polls, spinners, the clock). */
  advance(ms: number): Promise<void>;
  resize(columns: number, rows: number): Promise<void>;
  unmount(): Promise<void>;
}

/** Render `node` on a `columns`×`rows` terminal. Call with fake intervals on to drive polls. */
export function renderTui(node: ReactNode, columns = 100, rows = 30): Rendered {
  const stdout = new TestStdout(columns, rows);
  const stderr = new TestStdout(columns, rows);
  const stdin = new TestStdin();
  let instance: Instance | undefined;
  act(() => {
    instance = render(node, {
      stdout: stdout as unknown as NodeJS.WriteStream,
      stderr: stderr as unknown as NodeJS.WriteStream,
      stdin: stdin as unknown as NodeJS.ReadStream,
      debug: true,
      exitOnCtrlC: false,
      patchConsole: false,
    });
  });
  const press = async (keys: string) => {
    await act(async () => {
      stdin.write(keys);
      await settle();
    });
    await act(async () => {
      await settle();
    });
  };
  return {
    stdout,
    stdin,
    lastFrame: () => stdout.lastFrame(),
    press,
    async type(...chunks: string[]) {
      for (const c of chunks) await press(c);
    },
    async advance(ms: number) {
      await act(async () => {
        vi.advanceTimersByTime(ms);
        await settle();
      });
    },
    async resize(c: number, r: number) {
      await act(async () => {
        stdout.columns = c;
        stdout.rows = r;
        stdout.emit('resize');
        await settle();
      });
    },
    async unmount() {
      await act(async () => {
        instance?.unmount();
        instance?.cleanup();
        await settle();
      });
    },
  };
}
