/**
 * How far V8 lets the heap grow past what a full collection left alive.
 *
 * By default V8 picks the factor (between 1.1 and 4) from how fast it
 * collects against how fast the program allocates. A transfer of many files
 * keeps about a kilobyte per file alive on each side and makes short-lived
 * garbage per file, so the default let the heap run to several times the
 * live size before a full collection: 20 000 files of 4 KiB through the
 * engine peaked at 305–325 MB RSS; growing by at most 1.5 × it peaks at
 * 187–211 MB, with no change in CPU beyond this machine's noise, and a
 * 1 GiB single-file transfer is unchanged (docs/adr/0011).
 *
 * V8 reads this flag each time it sets the next collection's limit, so it
 * works when set at run time (unlike the young generation's size, fixed at
 * start). For entry points only: it is process-wide.
 */
import { setFlagsFromString } from 'node:v8';

/** The heap may grow by this percentage over the live size before a full collection. */
export const HEAP_GROWING_PERCENT = 50;

/** Cap V8's old-generation growth factor for this process (see the module comment). */
export function limitHeapGrowth(): void {
  setFlagsFromString(`--heap-growing-percent=${HEAP_GROWING_PERCENT}`);
}
