/**
 * Named engine errors with stable codes. The UI and CLI map `code` to human
 * messages and exit codes; the message is for logs and `--json` output.
 * Codes are part of the wire protocol too (cancel/error messages carry them).
 */

/** Every stable error code the engine can produce. */
export const ErrorCode = {
  /** A frame or message that does not parse or violates a cap. */
  Protocol: 'PROTOCOL',
  /** Authentication tag, leaf or Merkle root did not verify. */
  Integrity: 'INTEGRITY',
  /** Handshake failed: bad signature, bad confirmation, unexpected field. */
  Handshake: 'HANDSHAKE',
  /** Key confirmation failed under a code phrase: almost always a mistyped code. */
  WrongCode: 'WRONG_CODE',
  /** The peer's identity key is not the one expected (pinned). */
  PeerMismatch: 'PEER_MISMATCH',
  /** No protocol version in common. */
  Version: 'VERSION',
  /** A malformed code phrase typed by the user. */
  BadCode: 'BAD_CODE',
  /** A received file name that could escape the target directory or is otherwise unsafe. */
  HostileName: 'HOSTILE_NAME',
  /** Not enough free space for the accepted files. */
  NoSpace: 'NO_SPACE',
  /** A local file system error (permissions, missing source, …). */
  Io: 'IO',
  /** The link closed or stalled before the transfer finished. */
  Connection: 'CONNECTION',
  /** An await exceeded its deadline. */
  Timeout: 'TIMEOUT',
  /** The local user or the peer cancelled. */
  Cancelled: 'CANCELLED',
  /** The receiver declined the offer. */
  Declined: 'DECLINED',
  /** The peer reported an error of its own. */
  Remote: 'REMOTE',
} as const;

/** Union of all error code strings. */
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** Base class for every error the engine throws on purpose. */
export class FerryError extends Error {
  /** Stable machine-readable code. */
  readonly code: ErrorCode;
  /** Whether a retry on a new connection can plausibly succeed. */
  readonly retryable: boolean;

  constructor(
    code: ErrorCode,
    message: string,
    options?: { cause?: unknown; retryable?: boolean },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'FerryError';
    this.code = code;
    this.retryable = options?.retryable ?? isRetryableCode(code);
  }
}

/** Codes worth waiting out by default (the network), as opposed to integrity or trust failures. */
export function isRetryableCode(code: string): boolean {
  return code === 'CONNECTION' || code === 'TIMEOUT';
}

/** A frame, message or handshake field that does not parse. */
export class ProtocolError extends FerryError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(ErrorCode.Protocol, message, options);
    this.name = 'ProtocolError';
  }
}

/** Data failed authentication or hashing. Never retried blindly. */
export class IntegrityError extends FerryError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(ErrorCode.Integrity, message, options);
    this.name = 'IntegrityError';
  }
}

/** The handshake failed; `code` tells whether it was a wrong code phrase. */
export class HandshakeError extends FerryError {
  constructor(
    code: 'HANDSHAKE' | 'WRONG_CODE' | 'PEER_MISMATCH' | 'VERSION',
    message: string,
    options?: { cause?: unknown },
  ) {
    super(code, message, options);
    this.name = 'HandshakeError';
  }
}

/** The link closed or broke. Retryable. */
export class ConnectionError extends FerryError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(ErrorCode.Connection, message, { ...options, retryable: true });
    this.name = 'ConnectionError';
  }
}

/** Convert anything thrown into a FerryError, keeping the original as `cause`. */
export function toFerryError(err: unknown, fallback: ErrorCode = ErrorCode.Io): FerryError {
  if (err instanceof FerryError) return err;
  const message = err instanceof Error ? err.message : String(err);
  const errno = (err as { code?: unknown } | null)?.code;
  if (errno === 'ENOSPC' || errno === 'EDQUOT') {
    return new FerryError(ErrorCode.NoSpace, `the disk is full (${message})`, { cause: err });
  }
  if (errno === 'EFBIG') {
    // A FAT32 stick past 4 GiB, or a file-size limit on this process.
    return new FerryError(
      ErrorCode.NoSpace,
      `the file is larger than this file system or a limit allows (${message})`,
      { cause: err },
    );
  }
  if (err instanceof Error && err.name === 'TimeoutError') {
    return new FerryError(ErrorCode.Timeout, message, { cause: err });
  }
  return new FerryError(fallback, message, { cause: err });
}
