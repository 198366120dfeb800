/** Transfer ids that both sides (and a restarted side) derive alike, so a transfer resumes. */
import { createHash } from 'node:crypto';

/**
 * Transfer id of a direct send: the same two devices and the same file
 * names give the same id, so running the command again resumes.
 */
export function lanTransferId(
  sender: Uint8Array,
  receiver: Uint8Array,
  relativePaths: readonly string[],
): Uint8Array {
  const h = createHash('sha256')
    .update('ferry/1 lan-transfer-id\0')
    .update(sender)
    .update(receiver);
  for (const p of relativePaths) h.update(p).update('\0');
  return Uint8Array.from(h.digest().subarray(0, 16));
}
