/**
 * Baseline for the transport benchmark: bytes over one bidirectional stream
 * of @matrixai/quic (quiche) on loopback, with no ferry framing, so the other
 * QUIC implementations can be compared against it (DESIGN.md, Transport).
 *
 * The server certificate is a throwaway Ed25519 one from the project's own
 * generator (quiche's BoringSSL accepts ed25519 by default); the client does
 * not verify it. Stateless retry tokens are signed with HMAC-SHA256.
 */
import { createHmac, randomBytes, randomFillSync, timingSafeEqual } from 'node:crypto';
import Logger, { LogLevel } from '@matrixai/logger';
import type { QUICConnection, QUICStream } from '@matrixai/quic';
import { events, QUICClient, QUICServer } from '@matrixai/quic';
import { generateIdentity } from '../src/engine/crypto/identity.js';
import { createSelfSignedCert } from '../src/engine/transport/tls-cert.js';

const PIECE = 256 * 1024;
const RUN_TIMEOUT_MS = 120_000;

/** HMAC-SHA256 of `data` under `key`. */
function hmac(key: ArrayBuffer, data: ArrayBuffer): Buffer {
  return createHmac('sha256', Buffer.from(key)).update(Buffer.from(data)).digest();
}

/** Server crypto: HMAC for the retry tokens, under a random per-run key. */
const serverCrypto = {
  key: randomBytes(32).buffer as ArrayBuffer,
  ops: {
    async sign(key: ArrayBuffer, data: ArrayBuffer): Promise<ArrayBuffer> {
      const mac = hmac(key, data);
      return mac.buffer.slice(mac.byteOffset, mac.byteOffset + mac.byteLength) as ArrayBuffer;
    },
    async verify(key: ArrayBuffer, data: ArrayBuffer, sig: ArrayBuffer): Promise<boolean> {
      const expected = hmac(key, data);
      const given = Buffer.from(sig);
      return given.length === expected.length && timingSafeEqual(given, expected);
    },
  },
};

/** Client crypto: only random bytes (connection ids). */
const clientCrypto = {
  ops: {
    async randomBytes(data: ArrayBuffer): Promise<void> {
      randomFillSync(new Uint8Array(data));
    },
  },
};

/**
 * Push `bytes` over one bidirectional stream of @matrixai/quic on 127.0.0.1
 * and time it from the first write until the server read the end. `mbps` is
 * in MB/s (10^6 bytes per second). Rejects after `timeoutMs` (default 120 s)
 * rather than hanging.
 */
export async function rawMatrixaiThroughput(
  bytes: number,
  timeoutMs = RUN_TIMEOUT_MS,
): Promise<{ seconds: number; mbps: number }> {
  const logger = new Logger('bench', LogLevel.SILENT);
  const cert = createSelfSignedCert(generateIdentity(), { commonName: 'bench' });
  const server = new QUICServer({
    crypto: serverCrypto,
    config: { key: cert.keyPem.toString('ascii'), cert: cert.certPem, verifyPeer: false },
    logger,
  });
  let client: QUICClient | undefined;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`@matrixai/quic run exceeded ${timeoutMs / 1000} s`)),
      timeoutMs,
    );
  });
  try {
    await server.start({ host: '127.0.0.1', port: 0 });
    const inbound = new Promise<QUICStream>((resolve) => {
      server.addEventListener(
        events.EventQUICServerConnection.name,
        (evt: Event) => {
          const conn = (evt as events.EventQUICServerConnection).detail as QUICConnection;
          conn.addEventListener(
            events.EventQUICConnectionStream.name,
            (e: Event) => resolve((e as events.EventQUICConnectionStream).detail),
            { once: true },
          );
        },
        { once: true },
      );
    });
    const run = async (): Promise<{ seconds: number; mbps: number }> => {
      client = await QUICClient.createQUICClient({
        host: '127.0.0.1',
        port: server.port,
        localHost: '127.0.0.1',
        crypto: clientCrypto,
        config: { verifyPeer: false },
        logger,
      });
      const tx = client.connection.newStream('bidi');
      const piece = new Uint8Array(PIECE).fill(0x5a);
      const t0 = performance.now();
      const writing = (async () => {
        const writer = tx.writable.getWriter();
        for (let sent = 0; sent < bytes; sent += PIECE) {
          await writer.write(sent + PIECE <= bytes ? piece : piece.subarray(0, bytes - sent));
        }
        await writer.close();
      })();
      // The server sees the stream only once its first bytes arrive; a failed
      // write must not leave us waiting for it.
      const rx = await Promise.race([inbound, writing.then(() => inbound)]);
      const reading = drain(rx);
      const [received] = await Promise.all([reading, writing]);
      const seconds = (performance.now() - t0) / 1000;
      if (received !== bytes) throw new Error(`received ${received} of ${bytes} bytes`);
      return { seconds, mbps: bytes / seconds / 1e6 };
    };
    return await Promise.race([run(), timeout]);
  } finally {
    clearTimeout(timer);
    await client?.destroy({ force: true }).catch(() => {});
    await server.stop({ force: true }).catch(() => {});
  }
}

/** Read a stream to its end, counting bytes; also closes our write side. */
async function drain(stream: QUICStream): Promise<number> {
  void stream.writable.close().catch(() => {});
  let got = 0;
  for await (const chunk of stream.readable) got += chunk.byteLength;
  return got;
}
