/**
 * Where received files land. Names come from the peer and are hostile until
 * proven otherwise (DESIGN "Transfer protocol"): reject anything that could
 * leave the target directory or confuse a file system, never follow a symlink
 * below the target directory, never overwrite an existing file, and check
 * free space before accepting.
 *
 * Caveat: the checks run before the file system calls that depend on them, so
 * a local process that swaps a checked directory for a symlink in between can
 * still redirect a write. That attacker already has write access to the target
 * directory; defending against it would need openat()/O_BENEATH, which Node
 * does not offer.
 */
import type { Stats } from 'node:fs';
import fs, { type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { ErrorCode, FerryError, toFerryError } from '../errors.js';

/** Longest accepted path segment, in UTF-8 bytes (NAME_MAX on Linux, macOS and NTFS). */
export const MAX_SEGMENT_BYTES = 255;
/** Longest accepted relative path, in UTF-8 bytes (PATH_MAX on Linux). */
export const MAX_PATH_BYTES = 4096;
/** Candidates tried for `name (n).ext` and `.part` names before giving up. */
const MAX_NAME_ATTEMPTS = 10_000;

const { O_CREAT, O_EXCL, O_RDWR } = fs.constants;
// O_NOFOLLOW does not exist on Windows; there, the lstat checks still apply.
const O_NOFOLLOW = fs.constants.O_NOFOLLOW ?? 0;

/** Options of {@link validateRelativePath}. */
export interface ValidatePathOptions {
  /**
   * Also reject what Windows cannot store or treats specially: reserved device
   * names (CON, NUL, COM1, … with or without an extension), the characters
   * `<>:"|?*`, and segments ending in a dot or a space. Default: only when
   * running on Windows — these are legal names elsewhere (Linux has `aux.c`
   * files), and refusing them there would fail transfers for no safety gain.
   */
  readonly windows?: boolean;
}

// C0 controls, DEL, C1 controls; and lone surrogates (not valid UTF-8).
// biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is the point.
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;
const LONE_SURROGATE = /\p{Cs}/u;
const DRIVE_LETTER = /^[A-Za-z]:/;
const WINDOWS_CHARS = /[<>:"|?*]/;
// Device names are reserved whatever the extension; superscript digits count too.
const WINDOWS_RESERVED = /^(con|prn|aux|nul|conin\$|conout\$|com[1-9¹²³]|lpt[1-9¹²³])$/i;

function hostile(p: string, why: string): FerryError {
  const shown = p.length > 120 ? `${p.slice(0, 120)}…` : p;
  return new FerryError(
    ErrorCode.HostileName,
    `refused file name ${JSON.stringify(shown)}: ${why}`,
  );
}

function utf8Bytes(s: string): number {
  return Buffer.byteLength(s, 'utf8');
}

/**
 * Check a relative path received from a peer (`/`-separated) and return its
 * segments. Throws FerryError HOSTILE_NAME for: empty paths, absolute paths,
 * backslashes, drive letters (`C:` at the start of any segment), `.` and `..`
 * segments, empty segments (`a//b`, trailing `/`), control characters
 * (U+0000–U+001F, U+007F–U+009F), lone surrogates, segments over 255 UTF-8
 * bytes and paths over 4096 bytes; plus Windows-only rules, see
 * {@link ValidatePathOptions.windows}.
 */
export function validateRelativePath(p: string, opts: ValidatePathOptions = {}): string[] {
  if (typeof p !== 'string') throw new TypeError('p must be a string');
  const windows = opts.windows ?? process.platform === 'win32';
  if (p.length === 0) throw hostile(p, 'empty path');
  if (CONTROL.test(p)) throw hostile(p, 'contains a control character');
  if (LONE_SURROGATE.test(p)) throw hostile(p, 'contains an unpaired surrogate (not valid UTF-8)');
  if (utf8Bytes(p) > MAX_PATH_BYTES) throw hostile(p, `longer than ${MAX_PATH_BYTES} bytes`);
  if (p.startsWith('/')) throw hostile(p, 'absolute path');
  if (p.includes('\\')) throw hostile(p, 'contains a backslash');
  const segments = p.split('/');
  for (const seg of segments) {
    if (seg === '') throw hostile(p, 'empty path segment');
    if (seg === '.' || seg === '..') throw hostile(p, `"${seg}" segment`);
    if (DRIVE_LETTER.test(seg)) throw hostile(p, 'drive letter');
    if (utf8Bytes(seg) > MAX_SEGMENT_BYTES) {
      throw hostile(p, `a segment is longer than ${MAX_SEGMENT_BYTES} bytes`);
    }
    if (windows) checkWindowsSegment(p, seg);
  }
  return segments;
}

function checkWindowsSegment(p: string, seg: string): void {
  if (WINDOWS_CHARS.test(seg)) throw hostile(p, 'contains a character Windows forbids (<>:"|?*)');
  if (seg.endsWith('.') || seg.endsWith(' ')) {
    throw hostile(p, 'a segment ends with a dot or a space (Windows drops them)');
  }
  const stem = (seg.split('.')[0] ?? '').trimEnd();
  if (WINDOWS_RESERVED.test(stem))
    throw hostile(p, `"${stem}" is a reserved device name on Windows`);
}

/** Defence in depth for segments that did not come from validateRelativePath. */
function checkSegment(seg: string): void {
  if (seg === '' || seg === '.' || seg === '..' || /[/\\\0]/.test(seg)) {
    throw hostile(seg, 'not a single path segment');
  }
}

function errnoOf(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/**
 * `s`, stored flat. path.join and template literals build a string as a
 * tree of pieces (a V8 cons string): a 45-character path kept that way for
 * a whole transfer costs ~330 bytes of heap instead of ~75, and a transfer
 * keeps a few per file. Reading a character makes V8 flatten the string in
 * place; the next collection drops the pieces.
 */
export function flat(s: string): string {
  s.charCodeAt(0);
  return s;
}

async function lstatOrUndefined(p: string): Promise<Stats | undefined> {
  try {
    return await fs.lstat(p);
  } catch (err) {
    if (errnoOf(err) === 'ENOENT') return undefined;
    throw toFerryError(err);
  }
}

/**
 * Create the directories of `segments` (all but the last) under `rootDir`,
 * one level at a time, and return the absolute path of the final file, which
 * is not created. Throws HOSTILE_NAME if any existing component below
 * `rootDir` — including the final name — is a symlink, and IO if a component
 * that must be a directory is something else. `rootDir` itself may be a
 * symlink: that is the user's choice, not the peer's.
 *
 * `made`, when given, remembers the folders this call checked or created, and
 * later calls with the same set skip them: a transfer of many files in one
 * folder then costs no mkdir and lstat per file and level.
 */
export async function resolveTarget(
  rootDir: string,
  segments: string[],
  made?: Set<string>,
): Promise<string> {
  if (segments.length === 0) throw new RangeError('segments must not be empty');
  for (const seg of segments) checkSegment(seg);
  const root = path.resolve(rootDir);
  const target = path.join(root, ...segments);
  if (!target.startsWith(root + path.sep)) throw hostile(segments.join('/'), 'escapes the target');

  let dir = root;
  for (const seg of segments.slice(0, -1)) {
    dir = path.join(dir, seg);
    if (made?.has(dir)) continue;
    await mkdirNoFollow(dir, segments);
    made?.add(dir);
  }
  const existing = await lstatOrUndefined(target);
  if (existing?.isSymbolicLink()) {
    throw hostile(segments.join('/'), `${target} is a symbolic link; refusing to write through it`);
  }
  return flat(target);
}

/**
 * Create the folder `segments` under `rootDir` (and its parents), the way
 * resolveTarget creates a file's parents: never through a symbolic link,
 * never outside the root; a folder already there is fine, a file in the way
 * is an IO error. Returns the folder's path.
 */
export async function ensureFolder(rootDir: string, segments: string[]): Promise<string> {
  if (segments.length === 0) throw new RangeError('segments must not be empty');
  // Everything but the last segment, as for a file; then the last one.
  const target = await resolveTarget(rootDir, segments);
  await mkdirNoFollow(target, segments);
  return target;
}

/** Create `dir` unless it exists; it must then be a real folder, not a symlink or a file. */
async function mkdirNoFollow(dir: string, segments: string[]): Promise<void> {
  try {
    await fs.mkdir(dir);
  } catch (err) {
    if (errnoOf(err) !== 'EEXIST') throw toFerryError(err);
  }
  const st = await lstatOrUndefined(dir);
  if (st?.isSymbolicLink()) {
    throw hostile(segments.join('/'), `${dir} is a symbolic link; refusing to follow it`);
  }
  if (!st?.isDirectory()) {
    throw new FerryError(ErrorCode.Io, `cannot create a folder at ${dir}: a file is in the way`);
  }
}

/**
 * `base + suffix`, shortening `base` (by whole code points) so the result
 * fits in one file-name segment.
 */
function fitName(base: string, suffix: string): string {
  if (utf8Bytes(base + suffix) <= MAX_SEGMENT_BYTES) return base;
  const chars = Array.from(base);
  while (chars.length > 0 && utf8Bytes(chars.join('') + suffix) > MAX_SEGMENT_BYTES) chars.pop();
  return chars.join('');
}

/**
 * Split at the last dot: `archive.tar.gz` → `archive.tar` + `.gz`, so the
 * collision name is `archive.tar (1).gz`. A leading dot (`.bashrc`) is not an
 * extension, nor is an implausibly long tail.
 */
function splitExtension(name: string): { stem: string; ext: string } {
  const dot = name.lastIndexOf('.');
  if (dot <= 0 || utf8Bytes(name.slice(dot)) > 32) return { stem: name, ext: '' };
  return { stem: name.slice(0, dot), ext: name.slice(dot) };
}

/**
 * Create a new, empty part file next to `finalPath`: `<name>.part`, or
 * `<name> (1).part`, `<name> (2).part`, … if taken. Opened read-write with
 * O_CREAT|O_EXCL|O_NOFOLLOW and mode 0600, so an existing file or symlink
 * is never opened.
 *
 * With `record`, each name is handed to it before the file is created (a
 * name seen taken is skipped first): a crash between the two leaves a name
 * its owner knows about, never a part file nobody recorded.
 */
export async function createPartFile(
  finalPath: string,
  record?: (candidate: string) => Promise<void>,
): Promise<{ path: string; handle: FileHandle }> {
  for (let n = 0; n < MAX_NAME_ATTEMPTS; n++) {
    const candidate = partName(finalPath, n);
    if (record) {
      if ((await lstatOrUndefined(candidate)) !== undefined) continue;
      await record(candidate);
    }
    const handle = await createPartAt(candidate);
    if (handle) return { path: candidate, handle };
  }
  throw new FerryError(ErrorCode.Io, `no free part-file name for ${finalPath}`);
}

/** Part-file name `n` of `finalPath`: `<name>.part`, then `<name> (n).part`. */
function partName(finalPath: string, n: number): string {
  const suffix = n === 0 ? '.part' : ` (${n}).part`;
  return flat(
    path.join(path.dirname(finalPath), fitName(path.basename(finalPath), suffix) + suffix),
  );
}

/**
 * The first of `finalPath`'s part-file names (see createPartFile) with
 * nothing there now, or null if none is free.
 */
export async function freePartName(finalPath: string): Promise<string | null> {
  for (let n = 0; n < MAX_NAME_ATTEMPTS; n++) {
    const candidate = partName(finalPath, n);
    if ((await lstatOrUndefined(candidate)) === undefined) return candidate;
  }
  return null;
}

/**
 * Create the empty part file `candidate` as createPartFile does (exclusive,
 * no links followed, mode 0600); null if the name is taken.
 */
export async function createPartAt(candidate: string): Promise<FileHandle | null> {
  try {
    return await fs.open(candidate, O_CREAT | O_EXCL | O_RDWR | O_NOFOLLOW, 0o600);
  } catch (err) {
    if (errnoOf(err) === 'EEXIST') return null;
    throw toFerryError(err);
  }
}

/**
 * The mode a new file gets from this process: 0666 less the umask. (Reading
 * the umask with `process.umask()` is deprecated in the documentation only,
 * DEP0139: it warns nowhere, and there is no other way to learn it.)
 */
export function defaultFileMode(): number {
  return 0o666 & ~process.umask();
}

/**
 * Open a part file from an earlier session to resume it. Throws HOSTILE_NAME
 * if it is a symlink, IO if it is missing or not a regular file.
 */
export async function openExistingPart(partPath: string): Promise<FileHandle> {
  let handle: FileHandle;
  try {
    handle = await fs.open(partPath, O_RDWR | O_NOFOLLOW);
  } catch (err) {
    if (errnoOf(err) === 'ELOOP') {
      throw hostile(partPath, 'the part file is a symbolic link');
    }
    throw toFerryError(err);
  }
  const st = await handle.stat();
  if (!st.isFile()) {
    await handle.close();
    throw new FerryError(ErrorCode.Io, `${partPath} is not a regular file`);
  }
  return handle;
}

// link() errors meaning "this file system cannot hard-link", not "name taken".
const LINK_UNSUPPORTED = new Set(['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'EXDEV', 'ENOSYS']);

/**
 * Move the finished part file to `finalPath` without ever overwriting:
 * if the name is taken, use `name (1).ext`, `name (2).ext`, … (split at the
 * last dot, so `archive.tar (1).gz`). Uses link() + unlink(), which fails
 * atomically with EEXIST on a taken name; on file systems without hard links
 * it falls back to an existence check + rename (a small race with other local
 * writers). Returns the path used.
 */
export async function placeWithoutOverwrite(partPath: string, finalPath: string): Promise<string> {
  const dir = path.dirname(finalPath);
  const base = path.basename(finalPath);
  const { stem, ext } = splitExtension(base);
  let hardLinks = true;
  for (let n = 0; n < MAX_NAME_ATTEMPTS; n++) {
    const suffix = `${n === 0 ? '' : ` (${n})`}${ext}`;
    const candidate = path.join(dir, fitName(stem, suffix) + suffix);
    if (hardLinks) {
      const linked = await fs.link(partPath, candidate).then(
        () => true,
        (err: unknown) => {
          const code = errnoOf(err);
          if (code === 'EEXIST') return false;
          if (code === undefined || !LINK_UNSUPPORTED.has(code)) throw toFerryError(err);
          hardLinks = false;
          return false;
        },
      );
      if (linked) {
        try {
          await fs.unlink(partPath);
        } catch (err) {
          if (errnoOf(err) !== 'ENOENT') throw toFerryError(err);
        }
        return flat(candidate);
      }
      if (hardLinks) continue;
    }
    if ((await lstatOrUndefined(candidate)) !== undefined) continue;
    try {
      await fs.rename(partPath, candidate);
    } catch (err) {
      throw toFerryError(err);
    }
    return flat(candidate);
  }
  throw new FerryError(ErrorCode.Io, `no free name for ${finalPath}`);
}

/**
 * Why `dir` cannot take received files, or null if it can: missing, or not a
 * folder. Asked before connecting, so a mistyped folder costs the sender
 * nothing (the receiver never creates it: a typo should not make folders).
 */
export async function targetFolderProblem(dir: string): Promise<string | null> {
  let st: Stats;
  try {
    st = await fs.stat(dir);
  } catch (err) {
    if (errnoOf(err) === 'ENOENT') return `${dir}: no such folder (create it first)`;
    return `${dir}: ${(err as Error).message}`;
  }
  return st.isDirectory() ? null : `${dir}: not a folder`;
}

/** Bytes available to this (unprivileged) user on the file system holding `dir`. */
export async function freeBytes(dir: string): Promise<number> {
  try {
    const st = await fs.statfs(dir);
    return st.bavail * st.bsize;
  } catch (err) {
    throw toFerryError(err);
  }
}

/** Human-readable binary size: `1.5 GiB`. */
function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB', 'EiB'];
  let value = n;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${n} B` : `${value.toFixed(1)} ${units[unit]}`;
}

/**
 * Throw FerryError NO_SPACE unless the file system of `dir` has at least
 * `needed` bytes free. Returns the free bytes.
 */
export async function checkFreeSpace(dir: string, needed: number): Promise<number> {
  if (!Number.isFinite(needed) || needed < 0) {
    throw new RangeError(`needed must be a non-negative number, got ${needed}`);
  }
  const free = await freeBytes(dir);
  if (free < needed) {
    throw new FerryError(
      ErrorCode.NoSpace,
      `not enough free space in ${dir}: need ${formatBytes(needed)}, only ${formatBytes(free)} available`,
    );
  }
  return free;
}
