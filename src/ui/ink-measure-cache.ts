/**
 * ink 6.8 measures every text node's width through `build/measure-text.js`,
 * which keeps each distinct text it ever measured in a module-level Map that
 * is never cleared. A TUI that shows live rates, percentages and ETAs makes
 * new texts all the time, so that Map grows for as long as the app runs
 * (hundreds of MB over hours of transfers). ink offers no way to reach it;
 * this registers a module hook that rewrites that one file as it loads, so
 * the cache is emptied whenever it reaches `limit` entries (measuring again
 * is cheap: the texts on screen are measured once per change anyway).
 *
 * Call before ink is first imported. If a future ink changes the file, the
 * rewrite does nothing (test/ui/ink-measure-cache.test.ts notices).
 */
import { register } from 'node:module';

/** Entries kept at most; a screen holds a few hundred distinct texts. */
export const DEFAULT_MEASURE_CACHE_LIMIT = 4096;

/** The hook module's source (a data: URL keeps it free of build output paths). */
export function measureCacheHookSource(limit: number): string {
  if (!Number.isInteger(limit) || limit < 1)
    throw new RangeError('limit: expected a positive integer');
  return `
export async function load(url, context, nextLoad) {
  const result = await nextLoad(url, context);
  if (!url.endsWith('/ink/build/measure-text.js') || result.source == null) return result;
  const source = String(result.source)
    .replace('cache.set(text, dimensions);', 'if (cache.size >= ${limit}) cache.clear();\\n    cache.set(text, dimensions);')
    .replace('export default measureText;', 'export default measureText;\\nexport const cacheSize = () => cache.size;');
  return { ...result, source };
}
`;
}

/** Bound ink's text-measure cache for this process (see the module comment). */
export function boundInkMeasureCache(limit = DEFAULT_MEASURE_CACHE_LIMIT): void {
  register(`data:text/javascript,${encodeURIComponent(measureCacheHookSource(limit))}`);
}
