import { chmod, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { publicKeyFromSecret } from '../../src/engine/crypto/identity.js';
import { CheckpointFileStore } from '../../src/store/checkpoint-file-store.js';
import { loadOrCreateIdentity } from '../../src/store/identity-file.js';

const dirs: string[] = [];
async function dir() {
  const d = await mkdtemp(join(tmpdir(), 'ferry-store-'));
  dirs.push(d);
  return d;
}
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

describe('identity file', () => {
  it('is created once with mode 0600 and reloads the same key', async () => {
    const d = await dir();
    const a = await loadOrCreateIdentity(join(d, 'cfg'));
    expect((await stat(join(d, 'cfg', 'identity.key'))).mode & 0o777).toBe(0o600);
    const b = await loadOrCreateIdentity(join(d, 'cfg'));
    expect(Buffer.from(b.publicKey).equals(Buffer.from(a.publicKey))).toBe(true);
    expect(Buffer.from(publicKeyFromSecret(b.secretKey)).equals(Buffer.from(a.publicKey))).toBe(
      true,
    );
  });

  it('refuses a file readable by others, and a corrupt one, without replacing it', async () => {
    const d = await dir();
    await loadOrCreateIdentity(d);
    const p = join(d, 'identity.key');
    await chmod(p, 0o644);
    await expect(loadOrCreateIdentity(d)).rejects.toThrow(/readable by other users.*chmod 600/);
    await writeFile(p, 'garbage', { mode: 0o600 });
    await chmod(p, 0o600);
    await expect(loadOrCreateIdentity(d)).rejects.toThrow(/not a valid ferry identity/);
    expect(await readFile(p, 'utf8')).toBe('garbage');
  });
});

describe('checkpoint file store', () => {
  it('round-trips, treats a torn file as absent, removes', async () => {
    const d = await dir();
    const s = new CheckpointFileStore(d);
    const id = 'ab'.repeat(16);
    const cp = {
      kind: 'receive',
      version: 1,
      transferId: id,
      targetDir: '/x',
      chunkSize: 65536,
      peerFingerprint: 'f',
      files: [],
      updatedAt: 1,
    } as const;
    await s.save(cp);
    expect(await s.load(id)).toEqual(cp);
    await writeFile(join(d, 'sessions', `${id}.json`), '{"kind":"rec');
    expect(await s.load(id)).toBeUndefined();
    await s.remove(id);
    expect(await s.load(id)).toBeUndefined();
    await expect(s.load('../../etc/passwd')).rejects.toThrow(RangeError);
  });
});
