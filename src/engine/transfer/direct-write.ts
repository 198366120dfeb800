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
 * WebAssembly memory starts on a page boundary, so chunks are copied into
 * slots carved from one (a memcpy, ~0.05 ms per MB). Only whole chunks of a
 * chunk size that is a multiple of ALIGN go direct; a file's short last
 * chunk, and every chunk where anything is off, is written the usual way.
 *
 * Used only where it is known to work and to pay: Linux, on ext2/3/4 and
 * XFS (network and FUSE filesystems may turn each direct write into a
 * synchronous round trip; tmpfs has no device to bypass). The first EINVAL
 * turns it off for the rest of the transfer.
 */
import { constants } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { open, statfs } from 'node:fs/promises';

/** Alignment of slots and offsets: a page, which covers 512 B and 4 KiB sectors. */
const ALIGN = 4096;
/** Slot memory per transfer: enough writes in flight to keep a device busy. */
const SLOT_BYTES = 8 * 1024 * 1024;
const MAX_SLOTS = 4;
const WASM_PAGE = 64 * 1024;

// The one WebAssembly API used here (the project's lib has no DOM types).
declare const WebAssembly: {
  Memory: new (size: { initial: number; maximum: number }) => { readonly buffer: ArrayBuffer };
};

/** statfs f_type of the filesystems direct writes are used on. */
const DIRECT_FILESYSTEMS = new Set([
  0xef53, // ext2, ext3, ext4
  0x58465342, // XFS
]);

/** Direct writes for one receive; `null` from `at` where they do not apply. */
export class DirectWrites {
  readonly #chunkSize: number;
  #slots: Buffer[] | null = null;
  readonly #waiting: (() => void)[] = [];
  /** The direct descriptor opened beside each part file's own (null: none to be had). */
  readonly #handles = new Map<FileHandle, Promise<FileHandle | null>>();
  #off = false;
  #bytes = 0;

  private constructor(chunkSize: number) {
    this.#chunkSize = chunkSize;
  }

  /**
   * Direct writes for chunks of `chunkSize` into files under `dir`, or null
   * when this platform, that filesystem or that chunk size does not allow
   * them.
   */
  static async at(dir: string, chunkSize: number): Promise<DirectWrites | null> {
    if (process.platform !== 'linux' || !constants.O_DIRECT) return null;
    if (chunkSize <= 0 || chunkSize % ALIGN !== 0) return null;
    try {
      const { type } = await statfs(dir);
      return DIRECT_FILESYSTEMS.has(type) ? new DirectWrites(chunkSize) : null;
    } catch {
      return null;
    }
  }

  /** Bytes written directly so far. */
  get bytes(): number {
    return this.#bytes;
  }

  /**
   * Write `data` at `position` of the file open as `fh`, directly if it is
   * a whole aligned chunk. Returns how many bytes went (0 when the caller
   * must write them the usual way; fewer than all after a short write).
   * Errors other than the kernel refusing direct I/O are the write's own.
   * As with FileHandle.write, `data` must not change until this resolves.
   */
  async write(fh: FileHandle, data: Uint8Array, position: number): Promise<number> {
    if (this.#off || data.length !== this.#chunkSize || position % ALIGN !== 0) return 0;
    const direct = await this.#directOf(fh);
    const slot = direct && this.#ensureSlots() ? await this.#take() : null;
    if (!direct || !slot) return 0;
    try {
      slot.set(data);
      const { bytesWritten } = await direct.write(slot, 0, data.length, position);
      this.#bytes += bytesWritten;
      return bytesWritten;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EINVAL') throw err;
      this.#off = true;
      return 0;
    } finally {
      this.#give(slot);
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

  /** Carve the slots from a page-aligned WebAssembly memory, on first use. */
  #ensureSlots(): boolean {
    if (this.#slots) return true;
    const count = Math.max(1, Math.min(MAX_SLOTS, Math.floor(SLOT_BYTES / this.#chunkSize)));
    const pages = Math.ceil((count * this.#chunkSize) / WASM_PAGE);
    try {
      const { buffer } = new WebAssembly.Memory({ initial: pages, maximum: pages });
      this.#slots = Array.from({ length: count }, (_, k) =>
        Buffer.from(buffer, k * this.#chunkSize, this.#chunkSize),
      );
      return true;
    } catch {
      this.#off = true; // no address space for it: write the usual way
      return false;
    }
  }

  async #take(): Promise<Buffer> {
    for (;;) {
      const slot = this.#slots!.pop();
      if (slot) return slot;
      await new Promise<void>((resolve) => this.#waiting.push(resolve));
    }
  }

  #give(slot: Buffer): void {
    this.#slots!.push(slot);
    this.#waiting.shift()?.();
  }
}
