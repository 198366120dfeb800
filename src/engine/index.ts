/**
 * The engine's public surface: start a send or a receive over a stream of a
 * `Link`, observe typed events and versioned snapshots, pause/resume/cancel.
 * The UI, the CLI and the queue import from here only.
 */

export { generateCode, parseCode, roomIdFromNameplate } from './crypto/code-phrase.js';
export { fingerprint, generateIdentity, shortFingerprint } from './crypto/identity.js';
export { ErrorCode, FerryError } from './errors.js';
export { MemorySessionStore } from './transfer/memory-store.js';
export {
  type Decision,
  type OfferInfo,
  type ReceiveOptions,
  ReceiveTransfer,
  startReceive,
} from './transfer/receiver.js';
export { type SendOptions, SendTransfer, startSend } from './transfer/sender.js';
export type {
  FileSnapshot,
  PeerFacts,
  ReceiveCheckpoint,
  SessionStore,
  TransferEvent,
  TransferSnapshot,
  TransferState,
  TransferSummary,
} from './transfer/types.js';
export { ChunkState } from './transfer/types.js';
export type { ByteStream, Link, LinkInfo } from './transport/link.js';
