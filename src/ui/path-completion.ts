/**
 * Tab completion for the Send dialog's path. Reading the directory is a
 * UI-local convenience (the controller is not involved); the reader is
 * injected so the logic is tested without a file system.
 */
import { readdirSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { resolve } from 'node:path';

/** A directory entry as completion needs it. */
export interface DirEntry {
  readonly name: string;
  readonly isDir: boolean;
}

/** Lists a directory (absolute path); throws if it cannot. */
export type DirReader = (dir: string) => readonly DirEntry[];

/** What a Tab press gives: the new text, and the choices when it is ambiguous. */
export interface Completion {
  readonly value: string;
  readonly candidates: readonly string[];
}

/** Most candidates returned. */
export const MAX_CANDIDATES = 200;

/** `~` and `~/…` as the home directory, then resolved against `cwd`. */
export function expandPath(p: string, cwd = process.cwd(), home = homedir()): string {
  const t = p.trim();
  if (t === '~') return home;
  if (t.startsWith('~/')) return resolve(home, t.slice(2));
  return resolve(cwd, t);
}

function commonPrefix(names: readonly string[]): string {
  let p = names[0] ?? '';
  for (const n of names) {
    while (!n.startsWith(p)) p = p.slice(0, -1);
  }
  return p;
}

/** Complete `input` against the entries of its directory. */
export function completePath(
  input: string,
  read: DirReader,
  cwd = process.cwd(),
  home = homedir(),
): Completion {
  const slash = input.lastIndexOf('/');
  const dirPart = slash >= 0 ? input.slice(0, slash + 1) : '';
  const prefix = slash >= 0 ? input.slice(slash + 1) : input;
  let entries: readonly DirEntry[];
  try {
    entries = read(expandPath(dirPart === '' ? '.' : dirPart, cwd, home));
  } catch {
    return { value: input, candidates: [] };
  }
  const matches = entries
    .filter((e) => e.name.startsWith(prefix) && (prefix.startsWith('.') || !e.name.startsWith('.')))
    .sort((a, b) => a.name.localeCompare(b.name));
  const only = matches[0];
  if (matches.length === 1 && only) {
    return { value: dirPart + only.name + (only.isDir ? '/' : ''), candidates: [] };
  }
  if (matches.length === 0) return { value: input, candidates: [] };
  const common = commonPrefix(matches.map((e) => e.name));
  return {
    value: dirPart + (common.length > prefix.length ? common : prefix),
    candidates: matches.slice(0, MAX_CANDIDATES).map((e) => e.name + (e.isDir ? '/' : '')),
  };
}

/** The real reader: `readdirSync`, following symlinks to tell directories. */
export const readDir: DirReader = (dir) =>
  readdirSync(dir, { withFileTypes: true }).map((d) => {
    let isDir = d.isDirectory();
    if (d.isSymbolicLink()) {
      try {
        isDir = statSync(resolve(dir, d.name)).isDirectory();
      } catch {
        isDir = false;
      }
    }
    return { name: d.name, isDir };
  });
