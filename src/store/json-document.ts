/**
 * One versioned JSON document in a ferry config dir (`<dir>/<name>.json`),
 * written through conf (atomic rename, file mode 0600, dir 0700) and
 * validated here with zod, not by conf.
 *
 * The document lives in memory: conf re-reads and re-parses the file on each
 * `get`, so reads never go to conf. Each mutation re-reads the file first, so
 * two ferry processes sharing a config dir keep each other's changes, then
 * validates and writes once. There is no lock: two writes within the same few
 * milliseconds can still lose one of them.
 *
 * A file that is not JSON, does not match the schema, comes from a newer
 * ferry or cannot be migrated is moved aside to `<name>.json.corrupt-<time>`
 * (never deleted) with a warning naming both paths, and the document goes on
 * with the defaults (on open) or with what this process had loaded.
 */
import { existsSync, mkdirSync, readFileSync, renameSync } from 'node:fs';
import Conf from 'conf';
import type { z } from 'zod/v3';
import { FerryError } from '../engine/errors.js';

/** One step of the migration table: a document at version N (its key) to version N + 1. */
export type Migration = (doc: Record<string, unknown>) => Record<string, unknown>;

/** Emits a problem found in the file; the document prefixes it with the file's path. */
export type ReportProblem = (problem: string) => void;

/** What a JsonDocument holds and how its file is checked. */
export interface JsonDocumentSpec<T extends { readonly version: number }> {
  /** File name without `.json`. */
  readonly name: string;
  /** What messages call the document: 'config' gives "config version 2" and "the config schema". */
  readonly label: string;
  /** The version this ferry writes. */
  readonly version: number;
  /** Steps from each older version (the key) to the next. */
  readonly migrations: Readonly<Record<number, Migration>>;
  /** Checks the whole (migrated) document and fills in defaults. */
  readonly schema: z.ZodType<T, z.ZodTypeDef, unknown>;
  /** A fresh document for a missing or moved-aside file. */
  readonly defaults: () => T;
  /** In warnings: what ferry goes on with when the file is bad on open ('the default settings'). */
  readonly defaultsName: string;
  /** In warnings: what ferry goes on with when the file broke after open. */
  readonly loadedName: string;
  /**
   * Runs on the migrated data before the schema, to drop single bad entries
   * rather than move the whole file aside.
   */
  readonly prepare?: (data: Record<string, unknown>, report: ReportProblem) => void;
  /**
   * Runs on every validated document read from the file. The file is not
   * rewritten for what it drops alone: the warning repeats until the user
   * fixes the file or the next change writes it.
   */
  readonly sanitize?: (doc: T, report: ReportProblem) => T;
}

/** Options for JsonDocument.open. */
export interface JsonDocumentOptions {
  /** Receives problems found in the file; defaults to process.emitWarning. */
  readonly onWarning?: (message: string) => void;
  /** Clock for the names of moved-aside files. */
  readonly now?: () => Date;
}

type Parsed<T> =
  | { readonly ok: true; readonly doc: T; readonly migrated: boolean }
  | { readonly ok: false; readonly problem: string };

/** A validated JSON document kept in memory and persisted through conf. */
export class JsonDocument<T extends { readonly version: number }> {
  /** Absolute path of the file. */
  readonly path: string;
  readonly #dir: string;
  readonly #spec: JsonDocumentSpec<T>;
  readonly #conf: Conf<T>;
  readonly #warn: (message: string) => void;
  readonly #now: () => Date;
  #doc: T;
  #writes = 0;

  private constructor(dir: string, spec: JsonDocumentSpec<T>, opts: JsonDocumentOptions) {
    this.#dir = dir;
    this.#spec = spec;
    this.#warn = opts.onWarning ?? ((message) => process.emitWarning(message));
    this.#now = opts.now ?? (() => new Date());
    this.#conf = new Conf<T>({
      cwd: dir,
      configName: spec.name,
      projectName: 'ferry',
      configFileMode: 0o600,
      // conf parses the file in its constructor (throwing on bad JSON, or
      // with clearInvalidConfig letting the next write replace it) and again
      // before each write to carry over its `__internal__` key. We read and
      // validate the file ourselves, so its own parse must neither throw nor
      // carry anything over.
      deserialize: () => spec.defaults(),
    });
    this.path = this.#conf.path;
    this.#doc = spec.defaults();
  }

  /** Open (creating the 0700 dir and the file if needed) `<dir>/<spec.name>.json`. */
  static open<T extends { readonly version: number }>(
    dir: string,
    spec: JsonDocumentSpec<T>,
    opts: JsonDocumentOptions = {},
  ): JsonDocument<T> {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const document = new JsonDocument(dir, spec, opts);
    const { doc, write } = document.#load(spec.defaults(), spec.defaultsName);
    document.#doc = write ? document.#write(doc) : doc;
    return document;
  }

  /** The document as last read or written; treat it as read-only and change it through `mutate`. */
  get value(): T {
    return this.#doc;
  }

  /** How many times this process wrote the file. */
  get writes(): number {
    return this.#writes;
  }

  /**
   * Re-read the file, apply `change` to a copy, and write it if anything
   * changed (or the file had to be migrated or replaced). When `change`
   * throws, nothing is written but the in-memory document is the file's.
   */
  mutate<R>(change: (draft: T) => R): R {
    // A file broken since we loaded it must not cost what this process knows.
    const { doc, write } = this.#load(this.#doc, this.#spec.loadedName);
    this.#doc = doc;
    const draft = structuredClone(doc);
    const before = JSON.stringify(draft);
    const result = change(draft);
    if (write || JSON.stringify(draft) !== before) this.#doc = this.#write(draft);
    return result;
  }

  /** The document on disk; `write` when the file must be (re)written. */
  #load(fallback: T, fallbackName: string): { doc: T; write: boolean } {
    let text: string;
    try {
      text = readFileSync(this.path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        return { doc: this.#spec.defaults(), write: true };
      }
      throw new FerryError('IO', `cannot read ${this.path}: ${(err as Error).message}`, {
        cause: err,
      });
    }
    const report: ReportProblem = (problem) => this.#warn(`${this.path}: ${problem}`);
    const parsed = parseDocument(text, this.#spec, report);
    if (!parsed.ok) {
      const target = this.#moveAside();
      if (target) {
        this.#warn(
          `${this.path} ${parsed.problem}; moved it to ${target} and went on with ${fallbackName}`,
        );
      }
      return { doc: fallback, write: true };
    }
    const doc = this.#spec.sanitize ? this.#spec.sanitize(parsed.doc, report) : parsed.doc;
    return { doc, write: parsed.migrated };
  }

  /** Rename the file to a free `<file>.corrupt-<time>`; undefined if it is already gone. */
  #moveAside(): string | undefined {
    const stamp = this.#now().toISOString().replace(/[:.]/g, '-');
    let target = `${this.path}.corrupt-${stamp}`;
    for (let n = 2; existsSync(target); n++) target = `${this.path}.corrupt-${stamp}-${n}`;
    try {
      renameSync(this.path, target);
      return target;
    } catch (err) {
      // Another ferry process moved it first (and warned).
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw new FerryError(
        'IO',
        `${this.path} is invalid and cannot be moved aside: ${(err as Error).message}`,
        { cause: err },
      );
    }
  }

  #write(draft: T): T {
    const doc = this.#spec.schema.parse(draft);
    try {
      mkdirSync(this.#dir, { recursive: true, mode: 0o700 });
      this.#conf.store = doc;
    } catch (err) {
      throw new FerryError('IO', `cannot write ${this.path}: ${(err as Error).message}`, {
        cause: err,
      });
    }
    this.#writes++;
    return doc;
  }
}

/** Where and why zod rejected a value, as `path.to.field: message`. */
export function describeIssue(error: z.ZodError): string {
  const issue = error.issues[0];
  const where = issue?.path.map(String).join('.') || '(root)';
  return `${where}: ${issue?.message}`;
}

function parseDocument<T extends { readonly version: number }>(
  text: string,
  spec: JsonDocumentSpec<T>,
  report: ReportProblem,
): Parsed<T> {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    return { ok: false, problem: 'is not valid JSON' };
  }
  if (!isPlainObject(data)) return { ok: false, problem: 'is not a JSON object' };
  let doc = data;
  const version = doc['version'];
  if (typeof version !== 'number' || !Number.isInteger(version)) {
    return { ok: false, problem: 'has no valid "version" field' };
  }
  if (version > spec.version) {
    return {
      ok: false,
      problem: `was written by a newer ferry (${spec.label} version ${version}, this one knows up to ${spec.version})`,
    };
  }
  for (let v = version; v < spec.version; v++) {
    const step = spec.migrations[v];
    if (!step) {
      return {
        ok: false,
        problem: `has ${spec.label} version ${version}, which cannot be migrated`,
      };
    }
    doc = step(doc);
  }
  spec.prepare?.(doc, report);
  const checked = spec.schema.safeParse(doc);
  if (!checked.success) {
    return {
      ok: false,
      problem: `does not match the ${spec.label} schema (${describeIssue(checked.error)})`,
    };
  }
  return { ok: true, doc: checked.data, migrated: version !== spec.version };
}

/** True for `{…}` values parsed from JSON (not arrays, not null). */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
