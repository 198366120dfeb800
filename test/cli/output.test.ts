import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  formatBytes,
  formatEta,
  jsonForEvent,
  progressLine,
  Reporter,
} from '../../src/cli/output.js';

describe('cli output', () => {
  it('formats sizes, ETAs and a bar that fits the width', () => {
    expect(formatBytes(230)).toBe('230 B');
    expect(formatBytes(1.5 * 1024 * 1024)).toBe('1.5 MiB');
    expect(formatBytes(64 * 1024 ** 3)).toBe('64 GiB');
    expect(formatEta(65)).toBe('1:05');
    expect(formatEta(7384)).toBe('2:03:04');
    expect(formatEta(null)).toBe('--:--');
    for (const w of [40, 80, 200]) {
      const l = progressLine(512, 1024, 100, 3, w);
      expect(l.length).toBeLessThan(w);
      expect(l).toContain('50%');
    }
  });

  it('maps engine events to the documented --json lines', () => {
    expect(
      jsonForEvent({ type: 'progress', bytes: 5, total: 10, rateBps: 1.4, etaSeconds: 1 }),
    ).toEqual({
      type: 'progress',
      bytes: 5,
      total: 10,
      rate_bps: 1,
    });
    expect(
      jsonForEvent({
        type: 'completed',
        summary: {
          transferId: 'x',
          files: [{ path: 'a', size: 3, merkleRoot: 'ff', savedAs: '/d/a' }],
          bytesTransferred: 3,
          bytesSkipped: 0,
          wireBytes: 3,
        },
      }),
    ).toEqual({
      type: 'completed',
      files: [{ path: 'a', size: 3, merkle_root: 'ff', saved_as: '/d/a' }],
      bytes_transferred: 3,
      bytes_skipped: 0,
    });
    expect(jsonForEvent({ type: 'failed', code: 'INTEGRITY', message: 'm' })).toEqual({
      type: 'error',
      code: 'INTEGRITY',
      message: 'm',
    });
  });
});

describe('displayName', () => {
  it('escapes bidi and invisible characters so a name cannot pose as another', async () => {
    const { displayName } = await import('../../src/cli/output.js');
    expect(displayName('invoice\u202Efdp.exe')).toBe('invoice\\u{202E}fdp.exe');
    expect(displayName('a\u200Bb\uFEFFc\u2066d')).toBe('a\\u{200B}b\\u{FEFF}c\\u{2066}d');
    expect(displayName('photos/été 2024/ß.jpg')).toBe('photos/été 2024/ß.jpg');
  });

  it('lists the first 20 verified files, then only those saved under another name', () => {
    const lines: string[] = [];
    const sink = { write: (c: string) => lines.push(c.trimEnd()) } as unknown as NodeJS.WriteStream;
    const out = new Reporter(false, sink, sink);
    const root = join(tmpdir(), 'in');
    for (let i = 0; i < 30; i++) {
      const path = `d/f${i}.txt`;
      const savedAs = join(root, 'd', i === 25 ? `f${i} (1).txt` : `f${i}.txt`);
      out.event({ type: 'file-verified', file: i, path, root: '00', savedAs });
    }
    expect(lines).toHaveLength(22);
    expect(lines[0]).toBe(`verified d/f0.txt → ${join(root, 'd', 'f0.txt')}`);
    expect(lines[19]).toContain('d/f19.txt');
    expect(lines[20]).toMatch(/^… more files verified/);
    expect(lines[21]).toBe(`verified d/f25.txt → ${join(root, 'd', 'f25 (1).txt')}`);
  });

  it('a tagged reporter adds its tags to every JSON line, as they are when the line is written', () => {
    const chunks: string[] = [];
    const sink = { write: (c: string) => chunks.push(c) } as unknown as NodeJS.WriteStream;
    const tags: { transfer_id: string | null } = { transfer_id: null };
    const out = new Reporter(true, sink, sink).tagged(tags);
    out.line({ type: 'handshake', sas: 'a-b-c' });
    tags.transfer_id = 'abc123';
    out.line({ type: 'progress', bytes: 5 });
    expect(chunks.map((c) => JSON.parse(c))).toEqual([
      { type: 'handshake', transfer_id: null, sas: 'a-b-c' },
      { type: 'progress', transfer_id: 'abc123', bytes: 5 },
    ]);
    expect(Object.keys(JSON.parse(chunks[1]!))[0]).toBe('type');
  });
});
