/**
 * How V8 collects ferry's heap: process-wide settings made at run time by
 * entry points (`tuneHeap`), measured in docs/adr/0011 and 0013.
 *
 * Growth. By default V8 picks the factor (between 1.1 and 4) from how fast
 * it collects against how fast the program allocates. A transfer of many
 * files keeps about a kilobyte per file alive on each side and makes
 * short-lived garbage per file, so the default let the heap run to several
 * times the live size before a full collection: 20 000 files of 4 KiB
 * through the engine peaked at 305–325 MB RSS; growing by at most 1.5 × it
 * peaks at 187–211 MB, with no change in CPU beyond this machine's noise.
 * V8 reads this flag each time it sets the next collection's limit, so it
 * works when set at run time (unlike the young generation's size, fixed at
 * start).
 *
 * Buffers. Each chunk leaves a buffer or two of its size behind on each side
 * (src/engine/buffer-churn.ts). V8 counts them against the old generation
 * until a collection frees them, and ferry allocates so few small objects
 * that minor collections are rare (~40 per GiB): with a ~9 MB heap, V8 began
 * incremental marking again within milliseconds of ending it, ~100 full
 * collections per GiB. So:
 * - a minor collection after every SWEEP_EVERY bytes of churn frees the
 *   buffers that already died, young, for a fraction of a millisecond;
 * - while the heap is small, incremental marking is off (below ATOMIC_BELOW, on again above
 *   INCREMENTAL_ABOVE: pauses grow with the heap, and a transfer of 100 000
 *   files keeps hundreds of MB alive);
 * - and, while it is off, buffers that lived long enough to be promoted (a window's worth queued
 *   in a socket, say) are freed by a full collection, one pause of a few
 *   milliseconds at this size, once more than EXTERNAL_FULL_ABOVE of
 *   buffers are held outside the heap (looked at after each minor
 *   collection, at most every SWEEPS_BETWEEN_FULL of them). Without that
 *   bound transport receivers held 40–60 MB of dead buffers and peaked at
 *   159–191 MB RSS. Measured and not kept: a bound counted from what the
 *   last full collection left (it left what was in flight: engine benchmark
 *   peak RSS 147–168 MB against 123–139), and looking at every chunk
 *   (~15 MB more).
 * 1 GiB through the engine: 3–9 full collections instead of ~100, and the
 * transport benchmark's sides spend a quarter less CPU.
 */
import { getHeapStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { setBufferChurnListener } from './engine/buffer-churn.js';

/** The heap may grow by this percentage over the live size before a full collection. */
export const HEAP_GROWING_PERCENT = 50;
/** Incremental marking is turned off when the used heap falls below this… */
export const ATOMIC_BELOW = 48 * 2 ** 20;
/** …and on again when it grows above this. */
export const INCREMENTAL_ABOVE = 64 * 2 ** 20;
/** Bytes of buffer churn between two minor collections. */
export const SWEEP_EVERY = 8 * 2 ** 20;
/** Without incremental marking, a full collection once buffers outside the heap exceed this… */
export const EXTERNAL_FULL_ABOVE = 32 * 2 ** 20;
/** …but not at consecutive sweeps (many transfers at once may keep that much alive). */
export const SWEEPS_BETWEEN_FULL = 2;
/** How often the heap's size is looked at. */
const CHECK_MS = 500;

/** Cap V8's old-generation growth factor for this process (see the module comment). */
export function limitHeapGrowth(): void {
  setFlagsFromString(`--heap-growing-percent=${HEAP_GROWING_PERCENT}`);
}

/** Whether marking should be incremental for a heap of `used` bytes, given what it is now. */
export function wantIncrementalMarking(used: number, incremental: boolean): boolean {
  if (incremental) return used >= ATOMIC_BELOW;
  return used > INCREMENTAL_ABOVE;
}

/** V8's `gc` (exposed with --expose-gc): minor or, by default, full and synchronous. */
export type Collect = (options?: { type: 'minor' }) => void;

/** What a ChurnSweeper needs from the process; injectable for tests. */
export interface SweepPorts {
  readonly collect: Collect;
  /** Bytes of buffers V8 holds outside its heap. */
  readonly external: () => number;
  /** Whether full collections mark incrementally now. */
  readonly incremental: () => boolean;
}

/** Collects after buffer churn as the module comment says. */
export class ChurnSweeper {
  readonly #ports: SweepPorts;
  #since = 0;
  #sweepsSinceFull = SWEEPS_BETWEEN_FULL;
  /** Collections made so far, for tests and benchmarks. */
  minor = 0;
  full = 0;

  constructor(ports: SweepPorts) {
    this.#ports = ports;
  }

  /** `bytes` more of churn; collects when due and says what it did. */
  note(bytes: number): 'minor' | 'full' | undefined {
    this.#since += bytes;
    if (this.#since < SWEEP_EVERY) return undefined;
    this.#since = 0;
    this.#ports.collect({ type: 'minor' });
    this.minor++;
    this.#sweepsSinceFull++;
    if (this.#ports.incremental() || this.#sweepsSinceFull < SWEEPS_BETWEEN_FULL) return 'minor';
    if (this.#ports.external() <= EXTERNAL_FULL_ABOVE) return 'minor';
    this.#ports.collect();
    this.#sweepsSinceFull = 0;
    this.full++;
    return 'full';
  }
}

let incremental = true;
let watching: NodeJS.Timeout | undefined;
let sweeper: ChurnSweeper | undefined;

/** Whether full collections mark incrementally now (as this module last set it). */
export function incrementalMarking(): boolean {
  return incremental;
}

/** The sweeper tuneHeap() installed, if any. */
export function churnSweeper(): ChurnSweeper | undefined {
  return sweeper;
}

/**
 * Mark small heaps in one pause instead of incrementally (see the module
 * comment); looks at the heap every CHECK_MS without keeping the process alive.
 */
export function markSmallHeapsAtOnce(): void {
  if (watching) return;
  const check = () => {
    const want = wantIncrementalMarking(getHeapStatistics().used_heap_size, incremental);
    if (want === incremental) return;
    setFlagsFromString(want ? '--incremental-marking' : '--no-incremental-marking');
    incremental = want;
  };
  check();
  watching = setInterval(check, CHECK_MS).unref();
}

/** V8's gc function; --expose-gc set at run time reaches new contexts only. */
function exposedCollect(): Collect {
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as Collect;
}

/** Collect after buffer churn (see the module comment). */
export function sweepBufferChurn(): void {
  if (sweeper) return;
  const s = new ChurnSweeper({
    collect: exposedCollect(),
    external: () => getHeapStatistics().external_memory,
    incremental: incrementalMarking,
  });
  sweeper = s;
  setBufferChurnListener((bytes) => s.note(bytes));
}

/** Every setting above, for entry points (`ferry`, the benchmark peers). */
export function tuneHeap(): void {
  limitHeapGrowth();
  markSmallHeapsAtOnce();
  sweepBufferChurn();
}
