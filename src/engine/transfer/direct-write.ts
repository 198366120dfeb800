/**
 * Direct writes (O_DIRECT) of whole chunks into part files.
 *
 * A buffered write copies every byte into the page cache, and the kernel
 * writes it out later; on this project's VM that copy into fresh pages was
 * the largest single cost of a receive (~2 CPU-ms per MB, more than both
 * AES-GCM passes together; docs/adr/0012). A direct write hands the buffer
 * to the device instead (0.12 s of kernel CPU per GiB against 2.1–2.2 s for
 * buffered writes plus fsync, measured with dd here), and a received file no
 * longer pushes everything else out of the cache.
 *
 * O_DIRECT wants the buffer address, the file offset and the length aligned
 * to the device's block size. JavaScript cannot place a Buffer, but a
 * WebAssembly memory starts on a page boundary, so the receiver keeps whole
 * chunks in slots carved from one (chunk-slots.ts), and only those go
 * direct; a file's short last chunk, a chunk that did not get a slot, and
 * every chunk where anything is off, is written the usual way.
 *
 * Used only where it is known to work and to pay: Linux, on ext2/3/4 and
 * XFS (network and FUSE filesystems may turn each direct write into a
 * synchronous round trip; tmpfs has no device to bypass). The first EINVAL
 * turns it off for the rest of the transfer.
 */
import { constants } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { open, statfs } from 'node:fs/promises';
import { isPageAligned, PAGE } from './chunk-slots.js';

/** statfs f_type of the filesystems direct writes are used on. */
const DIRECT_FILESYSTEMS = new Set([
  0xef53, // ext2, ext3, ext4
  0x58465342, // XFS
]);

/** Direct writes for one receive; `null` from `at` where they do not apply. */
export class DirectWrites {
  /** The direct descriptor opened beside each part file's own (null: none to be had). */
  readonly #handles = new Map<FileHandle, Promise<FileHandle | null>>();
  #off = false;
  #bytes = 0;

  /**
   * Direct writes for chunks of `chunkSize` into files under `dir`, or null
   * when this platform, that filesystem or that chunk size does not allow
   * them.
   */
  static async at(dir: string, chunkSize: number): Promise<DirectWrites | null> {
    if (process.platform !== 'linux' || !constants.O_DIRECT) return null;
    if (chunkSize <= 0 || chunkSize % PAGE !== 0) return null;
    try {
      const { type } = await statfs(dir);
      return DIRECT_FILESYSTEMS.has(type) ? new DirectWrites() : null;
    } catch {
      return null;
    }
  }

  /** Bytes written directly so far. */
  get bytes(): number {
    return this.#bytes;
  }

  /**
   * Write `data` at `position` of the file open as `fh`, directly if `data`
   * is a chunk slot (page-aligned, see chunk-slots.ts) of whole pages and
   * `position` is page-aligned. Returns how many bytes went (0 when the
   * caller must write them the usual way; fewer than all after a short
   * write). Errors other than the kernel refusing direct I/O are the write's
   * own. As with FileHandle.write, `data` must not change until this resolves.
   */
  async write(fh: FileHandle, data: Uint8Array, position: number): Promise<number> {
    if (this.#off || !isPageAligned(data) || data.length % PAGE !== 0 || position % PAGE !== 0) {
      return 0;
    }
    const direct = await this.#directOf(fh);
    if (!direct) return 0;
    try {
      const { bytesWritten } = await direct.write(data, 0, data.length, position);
      this.#bytes += bytesWritten;
      return bytesWritten;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EINVAL') throw err;
      this.#off = true;
      return 0;
    }
  }

  /** Close the direct descriptor opened for `fh`, if any (before `fh` is synced and closed). */
  async close(fh: FileHandle): Promise<void> {
    const direct = this.#handles.get(fh);
    if (!direct) return;
    this.#handles.delete(fh);
    await (await direct)?.close().catch(() => undefined);
  }

  /**
   * A second descriptor on the same open file, with O_DIRECT: reopened
   * through /proc/self/fd, so it is the very inode `fh` holds, whatever has
   * happened to its name since.
   */
  #directOf(fh: FileHandle): Promise<FileHandle | null> {
    let direct = this.#handles.get(fh);
    if (!direct) {
      direct = open(`/proc/self/fd/${fh.fd}`, constants.O_WRONLY | constants.O_DIRECT).catch(
        (err: NodeJS.ErrnoException) => {
          if (err.code === 'EINVAL') this.#off = true;
          return null;
        },
      );
      this.#handles.set(fh, direct);
    }
    return direct;
  }
}
