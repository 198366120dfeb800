/**
 * The long-term Ed25519 identity, stored in `<config dir>/identity.key`
 * (mode 0600), never inside conf's JSON. The file holds a version line and
 * the 32-byte seed in hex. A file readable by others or a corrupt key is
 * refused with a message that says what to do; it is never silently replaced.
 */
import { chmod, mkdir, open, readFile, rename, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { generateIdentity, type Identity, publicKeyFromSecret } from '../engine/crypto/identity.js';
import { FerryError } from '../engine/errors.js';

const FILE = 'identity.key';
const HEADER = 'ferry-identity-v1';

/** Load the identity from `configDir`, creating it on first run. */
export async function loadOrCreateIdentity(configDir: string): Promise<Identity> {
  const path = join(configDir, FILE);
  let raw: string;
  try {
    const st = await stat(path);
    if (process.platform !== 'win32' && (st.mode & 0o077) !== 0) {
      throw new FerryError(
        'IO',
        `${path} is readable by other users (mode ${(st.mode & 0o777).toString(8)}); ` +
          `run 'chmod 600 ${path}' if it is yours, or delete it to make a new identity`,
      );
    }
    raw = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    return create(configDir, path);
  }
  const [header, hex] = raw.trim().split(/\s+/);
  if (header !== HEADER || !hex || !/^[0-9a-f]{64}$/.test(hex)) {
    throw new FerryError(
      'IO',
      `${path} is not a valid ferry identity; move it away to create a new one (peers will see a new key)`,
    );
  }
  const secretKey = Uint8Array.from(Buffer.from(hex, 'hex'));
  return { secretKey, publicKey: publicKeyFromSecret(secretKey) };
}

async function create(configDir: string, path: string): Promise<Identity> {
  await mkdir(configDir, { recursive: true, mode: 0o700 });
  const id = generateIdentity();
  const tmp = `${path}.${process.pid}.tmp`;
  const fh = await open(tmp, 'wx', 0o600);
  try {
    await fh.writeFile(`${HEADER} ${Buffer.from(id.secretKey).toString('hex')}\n`);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await chmod(tmp, 0o600);
  await rename(tmp, path);
  return id;
}
