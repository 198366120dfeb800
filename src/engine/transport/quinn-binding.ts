/**
 * Typed access to the quinn (Rust QUIC) native binding shipped inside
 * `@chainsafe/libp2p-quic`, used directly without a libp2p node.
 *
 * The package exports only its libp2p transport, and its `napi.d.ts` types
 * every class as `any`. This module locates `dist/src/napi.js` (which picks
 * the platform binary), checks the package version (the Rust config fields
 * changed between 2.1.1 and 2.1.4, so the version is pinned) and describes
 * the calls we use with small interfaces.
 *
 * Identity: the binding authenticates each side with a libp2p-TLS
 * certificate carrying an Ed25519 key. We build that key from the ferry
 * identity seed, and read the peer's authenticated key back from the peer id
 * at the end of `Connection.remoteMultiaddr()`.
 *
 * Binding facts relied on (measured with 2.1.1):
 * - every rejection is an Error with code `Unknown`; only the message differs;
 * - `Stream.read(max)` resolves a fresh Uint8Array, or null at the peer's FIN;
 *   `write()` resolves once quinn buffered the bytes (flow control applies);
 * - `finishWrite()`, `resetWrite()` and `stopRead()` return at once; a `write`
 *   pending when `resetWrite()` is called never settles;
 * - `Client` sockets bind the wildcard address of their family (no option),
 *   `Server` sockets bind the given address.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { generateKeyPairFromSeed, privateKeyToProtobuf } from '@libp2p/crypto/keys';
import { peerIdFromString } from '@libp2p/peer-id';
import type { Identity } from '../crypto/identity.js';
import { HandshakeError } from '../errors.js';

/** The only binding version whose config layout this module knows. */
export const QUINN_BINDING_VERSION = '2.1.1';

/** One bidirectional native stream. */
export interface NativeStream {
  id(): string;
  /** Up to `maxBytes` bytes, or null at the peer's FIN. */
  read(maxBytes: number): Promise<Uint8Array | null>;
  /** Resolves once quinn buffered all of `data`. */
  write(data: Uint8Array): Promise<void>;
  /** Send FIN after the buffered bytes; does not wait for delivery. */
  finishWrite(): Promise<void>;
  /** Send RESET_STREAM; buffered bytes are dropped. */
  resetWrite(): Promise<void>;
  /** Send STOP_SENDING; the peer's writes fail. */
  stopRead(): Promise<void>;
}

/** One native QUIC connection. */
export interface NativeConnection {
  inboundStream(): Promise<NativeStream>;
  outboundStream(): Promise<NativeStream>;
  /** Close at once (CONNECTION_CLOSE); unsent and unacknowledged data is lost. */
  abort(): void;
  /** Smoothed round-trip time in whole milliseconds. */
  rtt(): number;
  id(): string;
  /** `/ip4/…/udp/…/quic-v1/p2p/<peer id>`; the peer id is TLS-authenticated. */
  remoteMultiaddr(): string;
  /** Resolves when the connection closed for any reason. */
  closed(): Promise<void>;
}

/** A listening endpoint (binds the given address). */
export interface NativeServer {
  port(): number;
  inboundConnection(): Promise<NativeConnection>;
  abort(): Promise<void>;
}

/** A dialling endpoint (binds the wildcard address of its family). */
export interface NativeClient {
  outboundConnection(ip: string, port: number): Promise<NativeConnection>;
  abort(): void;
}

/** Opaque native config object. */
export interface NativeConfig {
  readonly __quinnConfig?: never;
}

/** Fields of the 2.1.1 `QuinnConfig` constructor (all required). */
export interface QuinnConfigFields {
  privateKeyProto: Uint8Array;
  /** Ignored by 2.1.1: a dead port fails only after `maxIdleTimeout`. */
  handshakeTimeout: number;
  maxIdleTimeout: number;
  keepAliveInterval: number;
  maxConcurrentStreamLimit: number;
  maxStreamData: number;
  maxConnectionData: number;
  /** Applies to `Client` sockets only. */
  receiveBufferSize: number;
  /** Applies to `Client` sockets only. */
  sendBufferSize: number;
}

/** The native exports this project uses. */
export interface QuinnBinding {
  QuinnConfig: new (config: QuinnConfigFields) => NativeConfig;
  Server: new (config: NativeConfig, ip: string, port: number) => NativeServer;
  /** `family`: 0 = IPv4, 1 = IPv6. */
  Client: new (
    config: NativeConfig,
    family: 0 | 1,
  ) => NativeClient;
}

/** Transport tuning passed to {@link createQuinnConfig}. */
export interface QuinnTuning {
  readonly maxIdleTimeoutMs: number;
  readonly keepAliveMs: number;
  readonly maxStreamData?: number;
  readonly maxConnectionData?: number;
  readonly maxConcurrentStreams?: number;
  readonly socketBufferBytes?: number;
}

let bindingPromise: Promise<QuinnBinding> | undefined;

/** Load (once) the native binding; rejects if it is missing or not the pinned version. */
export function loadQuinnBinding(): Promise<QuinnBinding> {
  bindingPromise ??= (async () => {
    const require = createRequire(import.meta.url);
    const dirs = require.resolve.paths('@chainsafe/libp2p-quic') ?? [];
    for (const dir of dirs) {
      const pkgDir = join(dir, '@chainsafe', 'libp2p-quic');
      const napiPath = join(pkgDir, 'dist', 'src', 'napi.js');
      if (!existsSync(napiPath)) continue;
      const pkg = JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8')) as {
        version?: unknown;
      };
      if (pkg.version !== QUINN_BINDING_VERSION) {
        throw new Error(
          `@chainsafe/libp2p-quic ${String(pkg.version)} found, ${QUINN_BINDING_VERSION} required (its native config fields differ between versions)`,
        );
      }
      return (await import(pathToFileURL(napiPath).href)) as QuinnBinding;
    }
    throw new Error('@chainsafe/libp2p-quic is not installed (the QUIC transport needs it)');
  })();
  return bindingPromise;
}

/**
 * Build a native config whose TLS identity is `identity`. Throws TypeError if
 * the identity's public key does not belong to its secret seed.
 */
export async function createQuinnConfig(
  binding: QuinnBinding,
  identity: Identity,
  tuning: QuinnTuning,
): Promise<NativeConfig> {
  const key = await generateKeyPairFromSeed('Ed25519', identity.secretKey);
  if (!bytesEqual(key.publicKey.raw, identity.publicKey)) {
    throw new TypeError('identity.publicKey does not belong to identity.secretKey');
  }
  const privateKeyProto = privateKeyToProtobuf(key);
  try {
    const buffer = tuning.socketBufferBytes ?? 500_000;
    return new binding.QuinnConfig({
      privateKeyProto,
      handshakeTimeout: tuning.maxIdleTimeoutMs,
      maxIdleTimeout: tuning.maxIdleTimeoutMs,
      keepAliveInterval: tuning.keepAliveMs,
      maxConcurrentStreamLimit: tuning.maxConcurrentStreams ?? 256,
      maxStreamData: tuning.maxStreamData ?? 10_000_000,
      maxConnectionData: tuning.maxConnectionData ?? 15_000_000,
      receiveBufferSize: buffer,
      sendBufferSize: buffer,
    });
  } finally {
    privateKeyProto.fill(0);
  }
}

/**
 * The peer's TLS-authenticated Ed25519 public key (32 bytes), read from the
 * peer id in `remoteMultiaddr()`. Throws HandshakeError if there is none.
 */
export function peerPublicKeyOf(conn: NativeConnection): Uint8Array {
  const addr = conn.remoteMultiaddr();
  const at = addr.lastIndexOf('/p2p/');
  if (at < 0) throw new HandshakeError('HANDSHAKE', `QUIC peer address has no peer id: ${addr}`);
  let raw: Uint8Array;
  try {
    const peer = peerIdFromString(addr.slice(at + 5));
    if (peer.type !== 'Ed25519') throw new Error(`peer key type is ${peer.type}, not Ed25519`);
    raw = peer.publicKey.raw;
  } catch (err) {
    throw new HandshakeError('HANDSHAKE', 'QUIC peer id does not carry an Ed25519 key', {
      cause: err,
    });
  }
  if (raw.length !== 32) throw new HandshakeError('HANDSHAKE', 'QUIC peer key is not 32 bytes');
  return Uint8Array.from(raw);
}

/** Byte-wise equality (public data; not constant-time). */
export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  return (
    a.length === b.length &&
    Buffer.from(a.buffer, a.byteOffset, a.length).equals(
      Buffer.from(b.buffer, b.byteOffset, b.length),
    )
  );
}

/** The peer's IP address from `remoteMultiaddr()` (`/ip4/…` or `/ip6/…`), or '' if absent. */
export function remoteHostOf(conn: NativeConnection): string {
  const m = /^\/ip[46]\/([^/]+)\//.exec(conn.remoteMultiaddr());
  return m?.[1] ?? '';
}
