/** A clock for relative times ("2m ago", "retry in 5s") that ticks once a second. */
import { useEffect, useState } from 'react';

/** `Date.now()`, refreshed every `intervalMs`. */
export function useClock(intervalMs = 1000): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), intervalMs);
    return () => clearInterval(timer);
  }, [intervalMs]);
  return now;
}
