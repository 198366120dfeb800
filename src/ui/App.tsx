/**
 * The full-screen TUI: Queue, Peers, Sessions and Detail panels, a footer,
 * and at most one dialog over them. It shows what the controller's snapshot
 * says and changes things only through controller commands, which the
 * reducer queues and `useCommandRunner` runs.
 */
import { Box, type Key, useInput } from 'ink';
import { useCallback, useEffect, useMemo, useReducer, useRef } from 'react';
import type { FerryController } from '../app/controller.js';
import type { CommandHost } from './commands.js';
import { DetailPanel } from './DetailPanel.js';
import { DialogLayer } from './DialogLayer.js';
import { messageSegs, statusSegs } from './footer.js';
import { toUiKeys } from './keys.js';
import { computeLayout } from './layout.js';
import { PeersPanel } from './PeersPanel.js';
import { type Completion, completePath, expandPath, readDir } from './path-completion.js';
import { QueuePanel } from './QueuePanel.js';
import { Lines } from './Row.js';
import { SessionsPanel } from './SessionsPanel.js';
import { panelIds, queueJobs, resolveIndex, sessionJobs, WAITING } from './selectors.js';
import { initialUiState, uiReducer, visibleDialog } from './ui-reducer.js';
import type { ViewContext } from './ui-state.js';
import { useClock } from './use-clock.js';
import { useCommandRunner } from './use-command-runner.js';
import { usePolledSnapshot } from './use-snapshot.js';
import { useTerminalSize } from './use-terminal-size.js';

/** How long a footer message stays. */
export const STATUS_MS = 6000;

/** Props of `App`. */
export interface AppProps {
  readonly controller: FerryController;
  /** The user quit (`force`: a second Ctrl+C while closing). */
  readonly onQuit: (force: boolean) => void;
  /** Snapshot polling interval. */
  readonly pollMs?: number;
  /** Path completion (defaults to reading the file system). */
  readonly complete?: (path: string) => Completion;
  /** Typed path to absolute path (defaults to `~` expansion and the working directory). */
  readonly expand?: (path: string) => string;
}

const defaultComplete = (p: string): Completion => completePath(p, readDir);

/**
 * How often the UI polls the controller's snapshot: 8 per second. At 10 the
 * bench's 20 live transfers cost 15–17 % of a core, at 8 it is 12–13 %
 * (docs/adr/0010); progress, rates and spinners still move smoothly.
 */
export const DEFAULT_POLL_MS = 125;

/** The TUI's root component. */
export function App({ controller, onQuit, pollMs = DEFAULT_POLL_MS, complete, expand }: AppProps) {
  // Spinners move on with the poll while a job waits (one timer, at most one frame per poll).
  const animate = useRef(false);
  const { snapshot, frame } = usePolledSnapshot(controller, pollMs, animate);
  const { columns, rows } = useTerminalSize();
  const now = useClock();
  const [state, dispatch] = useReducer(uiReducer, undefined, initialUiState);
  const queue = useMemo(() => queueJobs(snapshot), [snapshot]);
  animate.current = queue.some((j) => WAITING.has(j.state));
  const sessions = useMemo(() => sessionJobs(snapshot), [snapshot]);
  const layout = computeLayout(columns, rows - 1, sessions.length);

  // Keys are read against the latest snapshot through this ref, never a closure of an old render.
  const view = useRef<ViewContext>({ snapshot, panels: layout.panels });
  view.current = { snapshot, panels: layout.panels };
  const onInput = useCallback((input: string, key: Key) => {
    const keys = toUiKeys(input, key);
    if (keys.length > 0) dispatch({ type: 'keys', keys, view: view.current });
  }, []);
  useInput(onInput);

  const host: CommandHost = useMemo(
    () => ({
      controller,
      onQuit,
      complete: complete ?? defaultComplete,
      expand: expand ?? ((p) => expandPath(p)),
    }),
    [controller, onQuit, complete, expand],
  );
  useCommandRunner(state.effects, dispatch, host);

  useEffect(() => {
    if (!state.status) return;
    const id = state.status.id;
    const timer = setTimeout(() => dispatch({ type: 'status-expired', id }), STATUS_MS);
    return () => clearTimeout(timer);
  }, [state.status]);

  const focus = layout.panels.includes(state.focus) ? state.focus : 'queue';
  const qSel = resolveIndex(
    state.selection.queue,
    queue.map((j) => j.id),
  );
  const sSel = resolveIndex(
    state.selection.sessions,
    sessions.map((j) => j.id),
  );
  const pSel = resolveIndex(state.selection.peers, panelIds(snapshot, 'peers'));
  const dialog = visibleDialog(state, snapshot);
  const unanswered = snapshot.offers.filter((o) => !state.answered.includes(`offer:${o.id}`));
  const offerHidden = state.dialog !== null && unanswered.length > 0;
  const message = messageSegs(state, snapshot, now, offerHidden, layout.footer >= 2);
  const { width, height } = layout;
  const peersPanel = layout.peers && (
    <PeersPanel
      peers={snapshot.peers}
      selected={pSel}
      focused={focus === 'peers'}
      width={layout.peers.width}
      height={layout.peers.height}
      now={now}
    />
  );

  return (
    <Box flexDirection="column" width={width} height={height}>
      <QueuePanel
        jobs={queue}
        selected={qSel}
        focused={focus === 'queue'}
        width={layout.queue.width}
        height={layout.queue.height}
        now={now}
        frame={frame}
      />
      {layout.peers && layout.detail && layout.sessions ? (
        <Box flexDirection="row" height={layout.detail.height}>
          <Box flexDirection="column" width={layout.peers.width}>
            {peersPanel}
            <SessionsPanel
              jobs={sessions}
              selected={sSel}
              focused={focus === 'sessions'}
              width={layout.sessions.width}
              height={layout.sessions.height}
            />
          </Box>
          <DetailPanel
            job={focus === 'sessions' ? sessions[sSel] : queue[qSel]}
            width={layout.detail.width}
            height={layout.detail.height}
            now={now}
          />
        </Box>
      ) : (
        peersPanel
      )}
      <Lines
        lines={
          layout.footer >= 2
            ? [statusSegs(snapshot), message ?? []]
            : layout.footer === 1
              ? [message ?? statusSegs(snapshot)]
              : []
        }
        width={width}
      />
      {dialog && (
        <DialogLayer
          dialog={dialog}
          snapshot={snapshot}
          offersWaiting={Math.max(0, unanswered.length - 1)}
          width={width}
          height={height}
        />
      )}
    </Box>
  );
}
