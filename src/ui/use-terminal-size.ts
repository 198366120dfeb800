/** The terminal's size, following 'resize' events of ink's stdout. */
import { useStdout } from 'ink';
import { useEffect, useState } from 'react';

/** Columns and rows of the terminal. */
export interface TerminalSize {
  readonly columns: number;
  readonly rows: number;
}

/** Size used when stdout does not say (not a TTY). */
export const DEFAULT_SIZE: TerminalSize = { columns: 80, rows: 24 };

function read(stdout: NodeJS.WriteStream): TerminalSize {
  return {
    columns: stdout.columns > 0 ? stdout.columns : DEFAULT_SIZE.columns,
    rows: stdout.rows > 0 ? stdout.rows : DEFAULT_SIZE.rows,
  };
}

/** The current terminal size; re-renders on resize. */
export function useTerminalSize(): TerminalSize {
  const { stdout } = useStdout();
  const [size, setSize] = useState(() => read(stdout));
  useEffect(() => {
    const onResize = () => {
      const next = read(stdout);
      setSize((old) => (old.columns === next.columns && old.rows === next.rows ? old : next));
    };
    stdout.on('resize', onResize);
    onResize();
    return () => {
      stdout.off('resize', onResize);
    };
  }, [stdout]);
  return size;
}
