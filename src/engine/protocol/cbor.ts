/**
 * Decoding untrusted CBOR: the one place every message from the network
 * (handshake, control, relay join) is turned into plain data and checked
 * against its schema.
 *
 * cborg assigns map keys with `[]=`, so a key named `__proto__` would set the
 * decoded object's prototype: inherited fields could then satisfy a schema,
 * or an object could pass `instanceof Uint8Array` without being one (and make
 * the validator throw a TypeError). Such keys are refused, as are duplicate
 * keys and tags; any exception during validation becomes a plain failure.
 */
import { decode } from 'cborg';
import type { z } from 'zod/v3';

/** Outcome of `parseUntrusted`. */
export type Untrusted<T> = { ok: true; value: T } | { ok: false; message: string; cause?: unknown };

/** Decode `body` and validate it with `schema`; never throws. */
export function parseUntrusted<T>(
  body: Uint8Array,
  schema: z.ZodType<T, z.ZodTypeDef, unknown>,
): Untrusted<T> {
  let raw: unknown;
  try {
    raw = decode(body, { rejectDuplicateMapKeys: true, useMaps: false, tags: [] });
  } catch (cause) {
    return { ok: false, message: `not valid CBOR: ${(cause as Error).message}`, cause };
  }
  if (hasProtoTrick(raw)) return { ok: false, message: "map key '__proto__' is not allowed" };
  try {
    const parsed = schema.safeParse(raw);
    if (parsed.success) return { ok: true, value: parsed.data };
    const issue = parsed.error.issues[0];
    return {
      ok: false,
      message: issue ? `${issue.path.join('.') || '(root)'}: ${issue.message}` : 'invalid',
    };
  } catch (cause) {
    return { ok: false, message: 'does not match its schema', cause };
  }
}

function hasProtoTrick(v: unknown, depth = 0): boolean {
  if (depth > 16 || v === null || typeof v !== 'object' || ArrayBuffer.isView(v)) return false;
  if (Array.isArray(v)) return v.some((x) => hasProtoTrick(x, depth + 1));
  if (Object.getPrototypeOf(v) !== Object.prototype || Object.hasOwn(v, '__proto__')) return true;
  return Object.values(v).some((x) => hasProtoTrick(x, depth + 1));
}
