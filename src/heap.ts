/**
 * How V8 collects ferry's heap: two process-wide settings, made at run time
 * by entry points (`tuneHeap`), measured in docs/adr/0011 and 0012.
 *
 * Growth. By default V8 picks the factor (between 1.1 and 4) from how fast
 * it collects against how fast the program allocates. A transfer of many
 * files keeps about a kilobyte per file alive on each side and makes
 * short-lived garbage per file, so the default let the heap run to several
 * times the live size before a full collection: 20 000 files of 4 KiB
 * through the engine peaked at 305–325 MB RSS; growing by at most 1.5 × it
 * peaks at 187–211 MB, with no change in CPU beyond this machine's noise,
 * and a 1 GiB single-file transfer is unchanged. V8 reads this flag each
 * time it sets the next collection's limit, so it works when set at run
 * time (unlike the young generation's size, fixed at start).
 *
 * Marking. With a small heap (Node and ferry's modules leave ~9 MB alive)
 * V8 starts incremental marking again within milliseconds of finishing it,
 * whatever the program allocates: ~100 full collections in a 1 GiB engine
 * run, with concurrent marking and array-buffer sweeping on every one
 * (12 % of the run's CPU in a profile). Without incremental marking the same
 * run made 2–4 full collections, each a pause of ~10 ms at that size, and
 * took 10–20 % less CPU. Pauses grow with the heap, though, so incremental
 * marking is off only while the heap is small: off below ATOMIC_BELOW,
 * on again above INCREMENTAL_ABOVE (a transfer of 100 000 files keeps
 * hundreds of MB alive, and the TUI must not stall on it). V8 checks the
 * flag each time it would start marking.
 */
import { getHeapStatistics, setFlagsFromString } from 'node:v8';

/** The heap may grow by this percentage over the live size before a full collection. */
export const HEAP_GROWING_PERCENT = 50;
/** Incremental marking is turned off when the used heap falls below this… */
export const ATOMIC_BELOW = 48 * 2 ** 20;
/** …and on again when it grows above this. */
export const INCREMENTAL_ABOVE = 64 * 2 ** 20;
/** How often the heap's size is looked at. */
const CHECK_MS = 500;

/** Both settings, for entry points (`ferry`, the benchmark peers). */
export function tuneHeap(): void {
  limitHeapGrowth();
  markSmallHeapsAtOnce();
}

/** Cap V8's old-generation growth factor for this process (see the module comment). */
export function limitHeapGrowth(): void {
  setFlagsFromString(`--heap-growing-percent=${HEAP_GROWING_PERCENT}`);
}

/** Whether marking should be incremental for a heap of `used` bytes, given what it is now. */
export function wantIncrementalMarking(used: number, incremental: boolean): boolean {
  if (incremental) return used >= ATOMIC_BELOW;
  return used > INCREMENTAL_ABOVE;
}

let incremental = true;
let watching: NodeJS.Timeout | null = null;

/** Whether full collections mark incrementally now (as this module last set it). */
export function incrementalMarking(): boolean {
  return incremental;
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
