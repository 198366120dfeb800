/**
 * Poll the controller's snapshot (every 125 ms by default) and re-render
 * only when its `version` moved: the UI is fed at ~8 Hz however many events
 * the engine emits (DESIGN.md: 11–17 % CPU for 20 transfers this way).
 *
 * The same poll drives the spinners: every poll that re-renders moves the
 * animation frame on by one, and while `animate` says something is waiting,
 * every ANIMATE_EVERY-th poll re-renders even when the snapshot did not move.
 * So the screen is drawn at most once per poll, by one timer, however many
 * rows spin (a timer per spinner re-rendered the whole screen up to ink's 15
 * frames a second), and a screen where jobs only wait (for a peer, for a
 * slot) redraws ~3 times a second: measured in tmux, a waiting code send
 * cost the app 7 % of a core at one frame per poll.
 */
import { type RefObject, useEffect, useRef, useState } from 'react';
import type { AppSnapshot, FerryController } from '../app/controller.js';

/** Polls per spinner frame while nothing but the spinners would change. */
export const ANIMATE_EVERY = 3;

/** A polled snapshot and the animation frame. */
export interface Polled {
  readonly snapshot: AppSnapshot;
  /** Polls that re-rendered so far: the spinners' frame. */
  readonly frame: number;
}

/**
 * The latest snapshot of `controller`, polled every `intervalMs`, and the
 * animation frame; `animate.current` true makes every poll a new frame.
 */
export function usePolledSnapshot(
  controller: FerryController,
  intervalMs = 100,
  animate?: RefObject<boolean>,
): Polled {
  const [polled, setPolled] = useState<Polled>(() => ({
    snapshot: controller.snapshot(),
    frame: 0,
  }));
  const version = useRef(polled.snapshot.version);
  useEffect(() => {
    let still = 0;
    const timer = setInterval(() => {
      let next: AppSnapshot;
      try {
        next = controller.snapshot();
      } catch {
        // A failing snapshot keeps the last one on screen; the next poll tries again.
        return;
      }
      if (next.version !== version.current) {
        version.current = next.version;
        still = 0;
        setPolled((p) => ({ snapshot: next, frame: p.frame + 1 }));
      } else if (animate?.current && ++still % ANIMATE_EVERY === 0) {
        setPolled((p) => ({ snapshot: p.snapshot, frame: p.frame + 1 }));
      }
    }, intervalMs);
    return () => clearInterval(timer);
  }, [controller, intervalMs, animate]);
  return polled;
}

/** The latest snapshot of `controller`, polled every `intervalMs`. */
export function useSnapshot(controller: FerryController, intervalMs = 100): AppSnapshot {
  return usePolledSnapshot(controller, intervalMs).snapshot;
}
