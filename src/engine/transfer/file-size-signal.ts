/**
 * A write past the largest file a file system or process limit allows (4 GiB
 * on a FAT32 stick, `ulimit -f`) raises SIGXFSZ. Node ignores that signal,
 * so the write fails with EFBIG and the receiver can say why and keep what
 * it has for a resume. But exit-hook libraries among our dependencies
 * (when-exit, loaded by conf; signal-exit, loaded by ink) listen for it and
 * re-raise it with its default action: the process died on the spot, with
 * "File size limit exceeded" and no error of ours.
 *
 * keepFileSizeErrorsCatchable() drops every SIGXFSZ listener and leaves one
 * that does nothing, so the signal stays harmless and the write's EFBIG
 * reaches the receiver. Called when a receive starts, when every such
 * library has long been loaded.
 */
const ignore = (): void => undefined;

export function keepFileSizeErrorsCatchable(): void {
  if (process.platform === 'win32') return;
  const listeners = process.listeners('SIGXFSZ');
  if (listeners.length === 1 && listeners[0] === ignore) return;
  process.removeAllListeners('SIGXFSZ');
  process.on('SIGXFSZ', ignore);
}
