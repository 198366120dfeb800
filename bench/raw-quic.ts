/**
 * Baseline for the transport benchmark: bytes over one stream of the raw
 * quinn binding on loopback (no Link wrapper, no ferry framing), so
 * ferry-over-QUIC can be compared against what the binding itself does.
 *
 * Note: the binding's Client socket binds the wildcard address (0.0.0.0:0)
 * and there is no option to change that; the server binds 127.0.0.1 only.
 */
import { generateIdentity } from '../src/engine/crypto/identity.js';
import {
  createQuinnConfig,
  loadQuinnBinding,
  type NativeStream,
} from '../src/engine/transport/quinn-binding.js';

const PIECE = 256 * 1024;
const READ_MAX = 256 * 1024;

/**
 * Push `bytes` over one stream of the raw binding on 127.0.0.1 and time it
 * from the first write until the reader saw FIN. `mbps` is in MB/s (10^6
 * bytes per second), the unit DESIGN.md uses.
 */
export async function rawQuinnThroughput(
  bytes: number,
  readMax = READ_MAX,
): Promise<{ seconds: number; mbps: number }> {
  const binding = await loadQuinnBinding();
  const tuning = { maxIdleTimeoutMs: 10_000, keepAliveMs: 3_000 };
  const server = new binding.Server(
    await createQuinnConfig(binding, generateIdentity(), tuning),
    '127.0.0.1',
    0,
  );
  const client = new binding.Client(
    await createQuinnConfig(binding, generateIdentity(), tuning),
    0,
  );
  try {
    const inbound = server.inboundConnection();
    const conn = await client.outboundConnection('127.0.0.1', server.port());
    const accepted = await inbound;
    const tx = await conn.outboundStream();
    const rxPromise = accepted.inboundStream();
    const piece = new Uint8Array(PIECE).fill(0x5a);
    const t0 = performance.now();
    const writer = (async () => {
      for (let sent = 0; sent < bytes; sent += PIECE) {
        await tx.write(sent + PIECE <= bytes ? piece : piece.subarray(0, bytes - sent));
      }
      await tx.finishWrite();
    })();
    const received = await drain(await rxPromise, readMax);
    await writer;
    const seconds = (performance.now() - t0) / 1000;
    if (received !== bytes) throw new Error(`received ${received} of ${bytes} bytes`);
    // The reader saw FIN, so every byte arrived: closing now loses nothing.
    conn.abort();
    accepted.abort();
    return { seconds, mbps: bytes / seconds / 1e6 };
  } finally {
    client.abort();
    await server.abort();
  }
}

async function drain(stream: NativeStream, readMax: number): Promise<number> {
  let got = 0;
  for (;;) {
    const chunk = await stream.read(readMax);
    if (chunk === null) return got;
    got += chunk.length;
  }
}
