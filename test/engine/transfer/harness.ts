/** Shared set-up for transfer tests: identities, temp dirs, files, a sender/receiver pair. */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { generateIdentity, type Identity } from '../../../src/engine/crypto/identity.js';
import { MemorySessionStore } from '../../../src/engine/transfer/memory-store.js';
import {
  type ReceiveOptions,
  type ReceiveTransfer,
  startReceive,
} from '../../../src/engine/transfer/receiver.js';
import {
  type SendOptions,
  type SendTransfer,
  startSend,
} from '../../../src/engine/transfer/sender.js';
import type { TransferEvent } from '../../../src/engine/transfer/types.js';
import {
  createMemoryStreamPair,
  type StreamFaults,
} from '../../../src/engine/transport/memory-link.js';

export const alice: Identity = generateIdentity();
export const bob: Identity = generateIdentity();

/** A fresh temp dir, removed by `cleanup`. */
export async function tempDir(prefix = 'ferry-test-'): Promise<string> {
  return mkdtemp(join(tmpdir(), prefix));
}

/** Write `bytes` (random by default) to `dir/rel`, creating folders. */
export async function makeFile(
  dir: string,
  rel: string,
  bytes: number | Uint8Array,
): Promise<string> {
  const p = join(dir, rel);
  await mkdir(dirname(p), { recursive: true });
  await writeFile(p, typeof bytes === 'number' ? randomBytes(bytes) : bytes);
  return p;
}

/** SHA-256 hex of a file. */
export async function sha(p: string): Promise<string> {
  return createHash('sha256')
    .update(await readFile(p))
    .digest('hex');
}

/** All files under `dir`, relative, sorted. */
export async function listFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile()) out.push(relative(dir, join(e.parentPath, e.name)));
  }
  return out.sort();
}

/** Remove dirs. */
export async function cleanup(...dirs: string[]): Promise<void> {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
}

/** A sender and a receiver joined by an in-memory stream. */
export interface Pair {
  sender: SendTransfer;
  receiver: ReceiveTransfer;
  senderEvents: TransferEvent[];
  receiverEvents: TransferEvent[];
  store: MemorySessionStore;
  /** Bytes that crossed each direction. */
  wire: { s2r: number; r2s: number };
}

/** Start a pair; the sender is side `a` of the stream. */
export function startPair(opts: {
  paths: string[];
  targetDir: string;
  store?: MemorySessionStore;
  faults?: StreamFaults;
  send?: Partial<SendOptions>;
  receive?: Partial<ReceiveOptions>;
}): Pair {
  const wire = { s2r: 0, r2s: 0 };
  const faults: StreamFaults = {
    aToB: {
      ...opts.faults?.aToB,
      onBytes: (p, off) => {
        wire.s2r = Math.max(wire.s2r, off + p.length);
        opts.faults?.aToB?.onBytes?.(p, off);
      },
    },
    bToA: {
      ...opts.faults?.bToA,
      onBytes: (p, off) => {
        wire.r2s = Math.max(wire.r2s, off + p.length);
        opts.faults?.bToA?.onBytes?.(p, off);
      },
    },
  };
  const [a, b] = createMemoryStreamPair({ faults });
  const store = opts.store ?? new MemorySessionStore();
  const sender = startSend({
    stream: a,
    identity: alice,
    paths: opts.paths,
    chunkSize: 64 * 1024,
    ...opts.send,
  });
  const receiver = startReceive({
    stream: b,
    identity: bob,
    targetDir: opts.targetDir,
    store,
    ...opts.receive,
  });
  const senderEvents: TransferEvent[] = [];
  const receiverEvents: TransferEvent[] = [];
  sender.on((e) => senderEvents.push(e));
  receiver.on((e) => receiverEvents.push(e));
  return { sender, receiver, senderEvents, receiverEvents, store, wire };
}

/** Bytes a clean transfer of `paths` sends sender → receiver (to cut a later run at a fraction of it). */
export async function cleanRunBytes(paths: string[]): Promise<number> {
  const dst = await tempDir();
  try {
    const pair = startPair({ paths, targetDir: dst });
    await pair.receiver.done;
    await settle(pair);
    return pair.wire.s2r;
  } finally {
    await cleanup(dst);
  }
}

/** Outcome of a promise, without throwing. */
export async function outcome<T>(
  p: Promise<T>,
): Promise<{ ok: true; value: T } | { ok: false; error: { code?: string; message: string } }> {
  try {
    return { ok: true, value: await p };
  } catch (e) {
    return { ok: false, error: e as { code?: string; message: string } };
  }
}

/** Wait for both sides to end (whatever the outcome) and clean up. */
export async function settle(pair: Pair): Promise<void> {
  await Promise.race([
    Promise.all([pair.sender.settled, pair.receiver.settled]),
    new Promise((_, reject) =>
      setTimeout(() => reject(new Error('transfer did not settle in 30 s')), 30_000),
    ),
  ]);
}
