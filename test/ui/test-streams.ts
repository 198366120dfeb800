/**
 * Terminal streams for tests: a stdout with a size that keeps its frames, a
 * stdin keys are written into (as ink-testing-library's), key sequences.
 */
import { EventEmitter } from 'node:events';

/** Text without SGR colour codes. */
export function stripAnsi(s: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: matching escape sequences is the point.
  return s.replace(/\u001B\[[0-9;]*m/g, '');
}

/** A stdout with a size, keeping every frame written. */
export class TestStdout extends EventEmitter {
  readonly frames: string[] = [];
  isTTY = true;
  constructor(
    public columns: number,
    public rows: number,
  ) {
    super();
  }
  write = (frame: string): boolean => {
    this.frames.push(frame);
    return true;
  };
  /** The last frame, without colour codes. */
  lastFrame(): string {
    return stripAnsi(this.frames.at(-1) ?? '');
  }
}

/** A stdin that tests write keys into (as ink-testing-library's). */
export class TestStdin extends EventEmitter {
  isTTY = true;
  private data: string | null = null;
  write(data: string): void {
    this.data = data;
    this.emit('readable');
    this.emit('data', data);
  }
  read = (): string | null => {
    const { data } = this;
    this.data = null;
    return data;
  };
  setEncoding(): void {}
  setRawMode(): void {}
  resume(): void {}
  pause(): void {}
  ref(): void {}
  unref(): void {}
}

/** Key sequences as a terminal sends them. */
export const KEY = {
  up: '\u001B[A',
  down: '\u001B[B',
  left: '\u001B[D',
  right: '\u001B[C',
  enter: '\r',
  escape: '\u001B',
  tab: '\t',
  shiftTab: '\u001B[Z',
  backspace: '\u007F',
  ctrlC: '\u0003',
} as const;
