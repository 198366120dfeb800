/** Names that arrive from the network (device names), made safe to show. */

// Control characters (C0, DEL, C1) and bidi/invisible format characters.
// biome-ignore lint/suspicious/noControlCharactersInRegex: stripping them is the point
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]/g;

/** No control or bidi characters, runs of whitespace as one space, trimmed. */
export function cleanName(raw: string): string {
  return raw.replace(UNSAFE, '').replace(/\s+/g, ' ').trim();
}

/** A peer-supplied device name as cleanName, at most 63 characters; undefined if nothing is left. */
export function cleanPeerName(raw: string | undefined): string | undefined {
  if (raw === undefined) return undefined;
  return [...cleanName(raw)].slice(0, 63).join('') || undefined;
}
