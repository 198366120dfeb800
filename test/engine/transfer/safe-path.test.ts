import { constants as fsConstants } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { FerryError } from '../../../src/engine/errors.js';
import {
  checkFreeSpace,
  createPartFile,
  ensureFolder,
  freeBytes,
  openExistingPart,
  placeWithoutOverwrite,
  resolveTarget,
  validateRelativePath,
} from '../../../src/engine/transfer/safe-path.js';

const isWindows = process.platform === 'win32';

let root: string;
let outside: string;
beforeEach(async () => {
  root = await fs.mkdtemp(path.join(os.tmpdir(), 'ferry-safe-root-'));
  outside = await fs.mkdtemp(path.join(os.tmpdir(), 'ferry-safe-outside-'));
});
afterEach(async () => {
  vi.restoreAllMocks();
  await fs.rm(root, { recursive: true, force: true });
  await fs.rm(outside, { recursive: true, force: true });
});

function expectCode(fn: () => unknown, code: string): void {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(FerryError);
    expect((e as FerryError).code).toBe(code);
    return;
  }
  throw new Error('expected a throw');
}

async function expectCodeAsync(p: Promise<unknown>, code: string): Promise<FerryError> {
  const err = await p.then(
    () => {
      throw new Error('expected a rejection');
    },
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(FerryError);
  expect((err as FerryError).code).toBe(code);
  return err as FerryError;
}

describe('validateRelativePath', () => {
  it.each([
    ['a.txt', ['a.txt']],
    ['dir/sub/file.bin', ['dir', 'sub', 'file.bin']],
    ['.hidden', ['.hidden']],
    ['a..b/..c', ['a..b', '..c']],
    ['ünïcödé/日本語.txt', ['ünïcödé', '日本語.txt']],
    ['emoji 😀.png', ['emoji 😀.png']],
    ['x/C', ['x', 'C']],
  ])('accepts %j', (p, segments) => {
    expect(validateRelativePath(p, { windows: false })).toEqual(segments);
    expect(validateRelativePath(p, { windows: true })).toEqual(segments);
  });

  const hostile: [string, string][] = [
    ['empty', ''],
    ['absolute', '/etc/passwd'],
    ['double-slash absolute', '//server/share'],
    ['parent', '..'],
    ['parent inside', 'a/../b'],
    ['parent at end', 'a/..'],
    ['current', '.'],
    ['current inside', 'a/./b'],
    ['empty segment', 'a//b'],
    ['trailing slash', 'a/'],
    ['backslash', 'a\\b'],
    ['backslash traversal', '..\\..\\windows\\system32'],
    ['drive letter', 'C:'],
    ['drive path', 'C:/Windows'],
    ['drive relative', 'c:evil'],
    ['drive in a later segment', 'a/D:evil'],
    ['NUL', 'a\u0000b'],
    ['newline', 'a\nb'],
    ['escape', '\u001b[31mred'],
    ['DEL', 'a\u007f'],
    ['C1 NEL', 'a\u0085'],
    ['C1 CSI', '\u009b2J'],
    ['lone surrogate', 'a\ud800b'],
    ['segment of 256 bytes', 'x'.repeat(256)],
    ['segment of 256 UTF-8 bytes', 'é'.repeat(128)],
    ['path over 4096 bytes', `${'abcdefg/'.repeat(512)}x`],
  ];
  it.each(hostile)('rejects %s', (_label, p) => {
    expectCode(() => validateRelativePath(p, { windows: false }), 'HOSTILE_NAME');
  });

  it('names the problem in the message', () => {
    expect(() => validateRelativePath('a/../b')).toThrow(/"\.\." segment/);
    expect(() => validateRelativePath('a\u0000b')).toThrow(/control character/);
    expect(() => validateRelativePath('/x')).toThrow(/absolute/);
  });

  it('accepts exactly 255-byte segments and 4096-byte paths', () => {
    expect(validateRelativePath(`${'é'.repeat(127)}a`)).toHaveLength(1);
    // 15 × 255 + 200 + 55 bytes of names and 16 slashes = 4096.
    const segments = [...Array<string>(15).fill('a'.repeat(255)), 'b'.repeat(200), 'c'.repeat(55)];
    const p = segments.join('/');
    expect(Buffer.byteLength(p)).toBe(4096);
    expect(validateRelativePath(p, { windows: false })).toEqual(segments);
    expectCode(() => validateRelativePath(`${p}c`, { windows: false }), 'HOSTILE_NAME');
  });

  it('a name of dots only is fine except under Windows rules', () => {
    expect(validateRelativePath('...', { windows: false })).toEqual(['...']);
    expectCode(() => validateRelativePath('...', { windows: true }), 'HOSTILE_NAME');
  });

  it.each([
    'CON',
    'con.txt',
    'a/aux.c',
    'NUL',
    'nul.tar.gz',
    'COM1',
    'lpt9.log',
    'CON .txt',
    'name.',
    'name ',
    'a<b',
    'a|b',
    'what?',
    'star*',
    'quote"',
    'time 10:30.txt',
  ])('with windows rules rejects %j', (p) => {
    expectCode(() => validateRelativePath(p, { windows: true }), 'HOSTILE_NAME');
  });

  it('without windows rules, Windows-only names are fine', () => {
    for (const p of ['con.txt', 'a/aux.c', 'time 10:30.txt', 'name.', 'what?']) {
      expect(validateRelativePath(p, { windows: false })).toEqual(p.split('/'));
    }
    expect(validateRelativePath('console.log', { windows: true })).toEqual(['console.log']);
    expect(validateRelativePath('com10', { windows: true })).toEqual(['com10']);
  });

  it('rejects a non-string with TypeError', () => {
    expect(() => validateRelativePath(42 as unknown as string)).toThrow(TypeError);
  });

  // Strings that mix traversal-ish pieces with arbitrary code points.
  const tricky = fc.array(
    fc.oneof(
      fc.constantFrom('..', '.', '', '/', '\\', 'C:', 'a', ' ', '\u0000', '%2e%2e', '..\\', '~'),
      fc.string({ unit: 'binary', maxLength: 12 }),
    ),
    { maxLength: 8 },
  );
  const candidates = fc.oneof(
    tricky.map((parts) => parts.join('/')),
    tricky.map((parts) => parts.join('')),
    fc.string({ unit: 'binary' }),
  );

  it('anything accepted stays inside the root when resolved (property)', () => {
    const base = path.resolve(os.tmpdir(), 'ferry-root');
    fc.assert(
      fc.property(candidates, fc.boolean(), (p, windows) => {
        let segments: string[];
        try {
          segments = validateRelativePath(p, { windows });
        } catch (e) {
          expect((e as FerryError).code).toBe('HOSTILE_NAME');
          return;
        }
        const resolved = path.resolve(base, ...segments);
        expect(resolved.startsWith(base + path.sep)).toBe(true);
        expect(path.relative(base, resolved).split(path.sep)).toEqual(segments);
      }),
      { numRuns: 2000 },
    );
  });

  it('anything accepted and created by resolveTarget stays inside a real root (property)', async () => {
    const realRoot = await fs.realpath(root);
    await fc.assert(
      fc.asyncProperty(candidates, async (p) => {
        let segments: string[];
        try {
          segments = validateRelativePath(p);
        } catch {
          return;
        }
        const target = await resolveTarget(root, segments);
        expect(target.startsWith(root + path.sep)).toBe(true);
        const parent = await fs.realpath(path.dirname(target));
        expect(parent === realRoot || parent.startsWith(realRoot + path.sep)).toBe(true);
      }),
      { numRuns: 150 },
    );
  });
});

describe('resolveTarget', () => {
  it('creates the intermediate folders and returns the file path', async () => {
    const target = await resolveTarget(root, ['a', 'b', 'c.txt']);
    expect(target).toBe(path.join(root, 'a', 'b', 'c.txt'));
    expect((await fs.lstat(path.join(root, 'a', 'b'))).isDirectory()).toBe(true);
    await expect(fs.lstat(target)).rejects.toMatchObject({ code: 'ENOENT' });
    // Idempotent with existing folders.
    expect(await resolveTarget(root, ['a', 'b', 'd.txt'])).toBe(path.join(root, 'a', 'b', 'd.txt'));
  });

  it.skipIf(isWindows)('refuses a planted symlink to a folder outside', async () => {
    await fs.symlink(outside, path.join(root, 'evil'));
    const err = await expectCodeAsync(resolveTarget(root, ['evil', 'x.txt']), 'HOSTILE_NAME');
    expect(err.message).toMatch(/symbolic link/);
    await expectCodeAsync(resolveTarget(root, ['evil', 'deeper', 'x.txt']), 'HOSTILE_NAME');
    // Nothing was created outside.
    expect(await fs.readdir(outside)).toEqual([]);
  });

  it.skipIf(isWindows)('refuses a symlink deeper down', async () => {
    await fs.mkdir(path.join(root, 'a', 'b'), { recursive: true });
    await fs.symlink(outside, path.join(root, 'a', 'b', 'c'));
    await expectCodeAsync(resolveTarget(root, ['a', 'b', 'c', 'd', 'f.txt']), 'HOSTILE_NAME');
    expect(await fs.readdir(outside)).toEqual([]);
  });

  it.skipIf(isWindows)('refuses a symlink (even dangling) at the final name', async () => {
    await fs.symlink(path.join(outside, 'victim'), path.join(root, 'f.txt'));
    await expectCodeAsync(resolveTarget(root, ['f.txt']), 'HOSTILE_NAME');
  });

  it.skipIf(isWindows)('allows the root itself to be a symlink', async () => {
    const link = path.join(outside, 'root-link');
    await fs.symlink(root, link);
    expect(await resolveTarget(link, ['a', 'x'])).toBe(path.join(link, 'a', 'x'));
  });

  it('reports a file in the way of a folder as IO', async () => {
    await fs.writeFile(path.join(root, 'a'), 'x');
    await expectCodeAsync(resolveTarget(root, ['a', 'b.txt']), 'IO');
  });

  it('refuses unvalidated segments', async () => {
    await expectCodeAsync(resolveTarget(root, ['..', 'x']), 'HOSTILE_NAME');
    await expectCodeAsync(resolveTarget(root, ['a/b']), 'HOSTILE_NAME');
    await expectCodeAsync(resolveTarget(root, ['']), 'HOSTILE_NAME');
  });
});

describe('ensureFolder', () => {
  it('creates the folder and its parents; an existing folder is fine', async () => {
    const made = await ensureFolder(root, ['a', 'b', 'empty']);
    expect(made).toBe(path.join(root, 'a', 'b', 'empty'));
    expect((await fs.lstat(made)).isDirectory()).toBe(true);
    await fs.writeFile(path.join(made, 'kept'), 'x');
    expect(await ensureFolder(root, ['a', 'b', 'empty'])).toBe(made);
    expect(await fs.readdir(made)).toEqual(['kept']);
  });

  it.skipIf(isWindows)('refuses a symlink as the folder or on the way to it', async () => {
    await fs.symlink(outside, path.join(root, 'link'));
    await expectCodeAsync(ensureFolder(root, ['link']), 'HOSTILE_NAME');
    await expectCodeAsync(ensureFolder(root, ['link', 'inner']), 'HOSTILE_NAME');
    expect(await fs.readdir(outside)).toEqual([]);
  });

  it('reports a file in the way as IO and leaves the file alone', async () => {
    await fs.writeFile(path.join(root, 'x'), 'data');
    await expectCodeAsync(ensureFolder(root, ['x']), 'IO');
    expect(await fs.readFile(path.join(root, 'x'), 'utf8')).toBe('data');
  });

  it('refuses unvalidated segments', async () => {
    await expectCodeAsync(ensureFolder(root, ['..']), 'HOSTILE_NAME');
    await expectCodeAsync(ensureFolder(root, ['a', '..', '..', 'x']), 'HOSTILE_NAME');
  });
});

describe('part files', () => {
  it('creates <name>.part with mode 0600, then (1), (2) on collision', async () => {
    const final = path.join(root, 'x.txt');
    const first = await createPartFile(final);
    const second = await createPartFile(final);
    const third = await createPartFile(final);
    try {
      expect(first.path).toBe(path.join(root, 'x.txt.part'));
      expect(second.path).toBe(path.join(root, 'x.txt (1).part'));
      expect(third.path).toBe(path.join(root, 'x.txt (2).part'));
      if (!isWindows) expect((await first.handle.stat()).mode & 0o777).toBe(0o600);
      await first.handle.write(new Uint8Array([1, 2, 3]), 0, 3, 0);
    } finally {
      await Promise.all([first.handle.close(), second.handle.close(), third.handle.close()]);
    }
    expect(await fs.readFile(first.path)).toEqual(Buffer.from([1, 2, 3]));
  });

  it.skipIf(isWindows)('never opens a planted symlink as the part file', async () => {
    const victim = path.join(outside, 'victim');
    await fs.writeFile(victim, 'precious');
    await fs.symlink(victim, path.join(root, 'x.txt.part'));
    const part = await createPartFile(path.join(root, 'x.txt'));
    await part.handle.write('overwritten?');
    await part.handle.close();
    expect(part.path).toBe(path.join(root, 'x.txt (1).part'));
    expect(await fs.readFile(victim, 'utf8')).toBe('precious');
  });

  it('shortens a 255-byte name so the part name still fits', async () => {
    const name = 'n'.repeat(255);
    const part = await createPartFile(path.join(root, name));
    await part.handle.close();
    expect(Buffer.byteLength(path.basename(part.path))).toBeLessThanOrEqual(255);
    expect(path.basename(part.path).endsWith('.part')).toBe(true);
  });

  it('openExistingPart opens a regular file read-write', async () => {
    const p = path.join(root, 'x.part');
    await fs.writeFile(p, 'abc');
    const h = await openExistingPart(p);
    try {
      await h.write('Z', 1);
      expect((await h.stat()).size).toBe(3);
    } finally {
      await h.close();
    }
    expect(await fs.readFile(p, 'utf8')).toBe('aZc');
  });

  it.skipIf(isWindows)('openExistingPart refuses a symlink', async () => {
    const victim = path.join(outside, 'victim');
    await fs.writeFile(victim, 'precious');
    const p = path.join(root, 'x.part');
    await fs.symlink(victim, p);
    await expectCodeAsync(openExistingPart(p), 'HOSTILE_NAME');
  });

  it('openExistingPart reports a missing file or a folder as IO', async () => {
    await expectCodeAsync(openExistingPart(path.join(root, 'missing.part')), 'IO');
    await fs.mkdir(path.join(root, 'dir.part'));
    await expectCodeAsync(openExistingPart(path.join(root, 'dir.part')), 'IO');
  });
});

describe('placeWithoutOverwrite', () => {
  async function part(content: string): Promise<string> {
    const p = await createPartFile(path.join(root, 'incoming'));
    await p.handle.write(content);
    await p.handle.close();
    return p.path;
  }

  it('uses the name when free, else x (1).txt, x (2).txt, never overwriting', async () => {
    const final = path.join(root, 'x.txt');
    await fs.writeFile(final, 'original');
    const placed1 = await placeWithoutOverwrite(await part('one'), final);
    const placed2 = await placeWithoutOverwrite(await part('two'), final);
    expect(placed1).toBe(path.join(root, 'x (1).txt'));
    expect(placed2).toBe(path.join(root, 'x (2).txt'));
    expect(await fs.readFile(final, 'utf8')).toBe('original');
    expect(await fs.readFile(placed1, 'utf8')).toBe('one');
    expect(await fs.readFile(placed2, 'utf8')).toBe('two');
    expect((await fs.readdir(root)).sort()).toEqual(['x (1).txt', 'x (2).txt', 'x.txt']);

    const fresh = path.join(root, 'fresh.bin');
    expect(await placeWithoutOverwrite(await part('f'), fresh)).toBe(fresh);
  });

  it('splits at the last dot; dotfiles and extensionless names get a plain suffix', async () => {
    for (const name of ['archive.tar.gz', '.bashrc', 'README']) {
      await fs.writeFile(path.join(root, name), 'x');
    }
    expect(await placeWithoutOverwrite(await part('a'), path.join(root, 'archive.tar.gz'))).toBe(
      path.join(root, 'archive.tar (1).gz'),
    );
    expect(await placeWithoutOverwrite(await part('b'), path.join(root, '.bashrc'))).toBe(
      path.join(root, '.bashrc (1)'),
    );
    expect(await placeWithoutOverwrite(await part('c'), path.join(root, 'README'))).toBe(
      path.join(root, 'README (1)'),
    );
  });

  it.skipIf(isWindows)('treats a symlink or a folder at the name as taken', async () => {
    await fs.symlink(path.join(outside, 'victim'), path.join(root, 'x.txt'));
    await fs.mkdir(path.join(root, 'x (1).txt'));
    const placed = await placeWithoutOverwrite(await part('data'), path.join(root, 'x.txt'));
    expect(placed).toBe(path.join(root, 'x (2).txt'));
    expect(await fs.readdir(outside)).toEqual([]);
  });

  it('falls back to check + rename where hard links are unsupported', async () => {
    const spy = vi
      .spyOn(fs, 'link')
      .mockRejectedValue(Object.assign(new Error('not supported'), { code: 'EPERM' }));
    const final = path.join(root, 'y.txt');
    await fs.writeFile(final, 'original');
    const src = await part('new');
    const placed = await placeWithoutOverwrite(src, final);
    expect(spy).toHaveBeenCalled();
    expect(placed).toBe(path.join(root, 'y (1).txt'));
    expect(await fs.readFile(placed, 'utf8')).toBe('new');
    expect(await fs.readFile(final, 'utf8')).toBe('original');
    await expect(fs.access(src, fsConstants.F_OK)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('removes the part file after linking', async () => {
    const src = await part('z');
    await placeWithoutOverwrite(src, path.join(root, 'z.txt'));
    await expect(fs.access(src)).rejects.toMatchObject({ code: 'ENOENT' });
  });
});

describe('free space', () => {
  it('freeBytes reports a positive number for the temp dir', async () => {
    const free = await freeBytes(root);
    expect(Number.isSafeInteger(free)).toBe(true);
    expect(free).toBeGreaterThan(0);
  });

  it('checkFreeSpace passes when there is room and names both numbers when not', async () => {
    expect(await checkFreeSpace(root, 1)).toBeGreaterThan(0);
    const err = await expectCodeAsync(checkFreeSpace(root, 2 ** 60), 'NO_SPACE');
    expect(err.message).toMatch(/need 1\.0 EiB, only [\d.]+ [KMGTPE]?i?B available/);
    await expect(checkFreeSpace(root, -1)).rejects.toThrow(RangeError);
  });

  it('freeBytes on a missing folder is an IO error', async () => {
    await expectCodeAsync(freeBytes(path.join(root, 'missing')), 'IO');
  });
});
