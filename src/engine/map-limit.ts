/**
 * `fn` over every item, at most `limit` calls in flight, results in item
 * order. For many small file system calls: each is a round trip to libuv's
 * threads, so issuing them one after another leaves those threads idle.
 * The first rejection rejects the whole (calls already started still run).
 */
export async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  if (!(Number.isInteger(limit) && limit >= 1)) throw new RangeError('limit: a whole number ≥ 1');
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < items.length; i = next++) out[i] = await fn(items[i]!, i);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}
