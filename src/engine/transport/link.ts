/**
 * The `Link` port: bidirectional byte streams to one peer.
 *
 * A Link is one connection (a QUIC connection, a TCP+TLS socket pair through a
 * relay, or an in-memory pipe in tests). Each transfer runs on its own
 * `ByteStream`, so several transfers to one peer share a connection.
 * Everything above this port is transport-agnostic: it sees ordered, reliable
 * bytes that may stop at any point (cut), end early (truncation) or, through a
 * hostile relay, arrive altered. Authenticating and encrypting them is the
 * handshake's job, not the Link's.
 */

/** One ordered, reliable, bidirectional byte stream. */
export interface ByteStream {
  /**
   * Queue bytes for sending. Resolves once the stream accepted them (its
   * buffer is below its high-water mark); that is the backpressure signal.
   * The caller must not mutate `bytes` afterwards. Rejects if the stream broke.
   */
  write(bytes: Uint8Array): Promise<void>;
  /**
   * Next bytes from the peer, in order, in pieces of any size; `null` at a
   * clean end of stream (peer called `closeWrite`). Rejects if the stream broke.
   * At most one read may be pending at a time.
   */
  read(): Promise<Uint8Array | null>;
  /** Half-close: no more writes; the peer's reads end with `null` once drained. */
  closeWrite(): Promise<void>;
  /** Tear the stream down in both directions; pending and later calls reject. */
  abort(reason?: Error): void;
}

/** Facts about how a link reached the peer, reported in events. */
export interface LinkInfo {
  /** `direct` (LAN or dialled address), `relay`, or `memory` in tests. */
  readonly path: 'direct' | 'relay' | 'memory';
  /** Transport underneath. */
  readonly transport: 'quic' | 'tcp' | 'memory';
  /** Round-trip time measured while connecting, if known. */
  readonly rttMs?: number;
}

/** One connection to one peer, carrying any number of streams. */
export interface Link {
  readonly info: LinkInfo;
  /** Open a new outgoing stream. */
  openStream(): Promise<ByteStream>;
  /** Wait for the peer's next stream; `null` once the link is closed. */
  acceptStream(): Promise<ByteStream | null>;
  /** Close the link and every stream on it. */
  close(): Promise<void>;
}
