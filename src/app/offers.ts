/**
 * Incoming offers waiting for the user's answer. The engine's `decide`
 * callback parks here until the UI answers (accept, decline, always) or
 * the transfer goes away; the UI sees them as OfferView in the snapshot.
 */
import { randomBytes } from 'node:crypto';
import { displayName } from '../cli/output.js';
import { shortFingerprint } from '../engine/crypto/identity.js';
import type { OfferInfo } from '../engine/transfer/receiver.js';
import type { OfferAnswer, OfferView } from './controller.js';

interface Pending {
  readonly view: OfferView;
  readonly resolve: (a: OfferAnswer) => void;
}

/** The offers the user has not answered yet. */
export class OfferBox {
  readonly #pending = new Map<string, Pending>();
  /** Bumps on every change. */
  version = 0;

  /**
   * Ask the user about `offer`; resolves with the answer, or 'decline' when
   * `signal` aborts first (the sender went away, the app closes).
   */
  ask(
    offer: OfferInfo,
    known: boolean,
    targetDir: string,
    signal: AbortSignal,
  ): Promise<OfferAnswer> {
    const id = randomBytes(8).toString('hex');
    return new Promise((resolve) => {
      const finish = (a: OfferAnswer) => {
        if (!this.#pending.delete(id)) return;
        signal.removeEventListener('abort', onAbort);
        this.version++;
        resolve(a);
      };
      const onAbort = () => finish('decline');
      this.#pending.set(id, {
        view: {
          id,
          peerName: offer.peerName ? displayName(offer.peerName) : null,
          fingerprint: offer.peer.fingerprint,
          shortId: shortFingerprint(offer.peer.publicKey),
          sas: offer.peer.sas,
          known,
          files: offer.files.map((f) => ({ path: displayName(f.path), size: f.size })),
          folders: offer.dirs.length,
          total: offer.total,
          resuming: offer.resuming,
          targetDir,
        },
        resolve: finish,
      });
      this.version++;
      if (signal.aborted) onAbort();
      else signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** Answer one offer; false when it is no longer pending. */
  answer(id: string, answer: OfferAnswer): boolean {
    const p = this.#pending.get(id);
    if (!p) return false;
    p.resolve(answer);
    return true;
  }

  /** Pending offers, oldest first. */
  list(): OfferView[] {
    return [...this.#pending.values()].map((p) => p.view);
  }

  /** Decline everything (the app closes). */
  declineAll(): void {
    for (const p of [...this.#pending.values()]) p.resolve('decline');
  }
}
