/**
 * The engine's public surface: start a send or a receive over a stream of a
 * `Link`, observe typed events and versioned snapshots, pause/resume/cancel.
 * The UI, the CLI and the queue import from here only.
 */
export { FerryError, ErrorCode } from './errors.js';
export type { ByteStream, Link, LinkInfo } from './transport/link.js';
export { startSend, SendTransfer, type SendOptions } from './transfer/sender.js';
export {
  startReceive,
  ReceiveTransfer,
  type ReceiveOptions,
  type OfferInfo,
  type Decision,
} from './transfer/receiver.js';
export { MemorySessionStore } from './transfer/memory-store.js';
export type {
  TransferEvent,
  TransferSnapshot,
  TransferSummary,
  TransferState,
  FileSnapshot,
  SessionStore,
  ReceiveCheckpoint,
  PeerFacts,
} from './transfer/types.js';
export { ChunkState } from './transfer/types.js';
export { generateCode, parseCode, roomIdFromNameplate } from './crypto/code-phrase.js';
export { generateIdentity, fingerprint, shortFingerprint } from './crypto/identity.js';
