import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { completePath, type DirEntry, expandPath, readDir } from '../../src/ui/path-completion.js';

const tree: Record<string, DirEntry[]> = {
  '/home/me': [
    { name: 'Documents', isDir: true },
    { name: 'Downloads', isDir: true },
    { name: 'notes.txt', isDir: false },
    { name: '.secret', isDir: false },
  ],
  '/home/me/Documents': [{ name: 'report.pdf', isDir: false }],
};
const read = (dir: string) => {
  const e = tree[dir];
  if (!e) throw new Error('ENOENT');
  return e;
};

describe('path completion', () => {
  it('completes a unique match, adding / to a directory', () => {
    expect(completePath('no', read, '/home/me', '/home/me')).toEqual({
      value: 'notes.txt',
      candidates: [],
    });
    expect(completePath('~/Docu', read, '/', '/home/me')).toEqual({
      value: '~/Documents/',
      candidates: [],
    });
    expect(completePath('/home/me/Documents/r', read)).toEqual({
      value: '/home/me/Documents/report.pdf',
      candidates: [],
    });
  });

  it('extends to the common prefix and lists the choices; hides dotfiles unless asked', () => {
    expect(completePath('D', read, '/home/me', '/home/me')).toEqual({
      value: 'Do',
      candidates: ['Documents/', 'Downloads/'],
    });
    expect(completePath('', read, '/home/me', '/home/me').candidates).not.toContain('.secret');
    expect(completePath('.s', read, '/home/me', '/home/me').value).toBe('.secret');
  });

  it('leaves the text alone when nothing matches or the directory cannot be read', () => {
    expect(completePath('zz', read, '/home/me', '/home/me')).toEqual({
      value: 'zz',
      candidates: [],
    });
    expect(completePath('/nope/x', read)).toEqual({ value: '/nope/x', candidates: [] });
  });

  it('expands ~ and relative paths', () => {
    expect(expandPath('~', '/w', '/home/me')).toBe('/home/me');
    expect(expandPath('~/a', '/w', '/home/me')).toBe('/home/me/a');
    expect(expandPath('docs/', '/w', '/home/me')).toBe('/w/docs');
    expect(expandPath(' /abs ', '/w', '/home/me')).toBe('/abs');
  });

  const dir = mkdtempSync(join(tmpdir(), 'ferry-ui-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('reads a real directory', () => {
    mkdirSync(join(dir, 'sub'));
    writeFileSync(join(dir, 'file.txt'), 'x');
    expect(completePath(`${dir}/s`, readDir)).toEqual({ value: `${dir}/sub/`, candidates: [] });
    expect(completePath(`${dir}/`, readDir).candidates).toEqual(['file.txt', 'sub/']);
  });
});
