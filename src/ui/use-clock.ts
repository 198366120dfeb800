/**
 * The time for relative texts ("2m ago", "retry in 5s"). It is read at each
 * render; a timer re-renders only when nothing else did for `intervalMs`, so
 * a busy screen (new snapshots eight times a second) gets no extra frames.
 */
import { useEffect, useReducer, useRef } from 'react';

/** `Date.now()` at this render; re-renders at least every `intervalMs`. */
export function useClock(intervalMs = 1000): number {
  const [, tick] = useReducer((n: number) => n + 1, 0);
  const rendered = useRef(0);
  const now = Date.now();
  rendered.current = now;
  useEffect(() => {
    const timer = setInterval(() => {
      if (Date.now() - rendered.current >= intervalMs - 50) tick();
    }, intervalMs);
    return () => clearInterval(timer);
  }, [intervalMs]);
  return now;
}
