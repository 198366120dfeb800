/**
 * A Reporter whose human lines become app notices: the CLI's helpers
 * (pinning a peer, …) speak through a Reporter, and in the app what they
 * say belongs in the status area, not on stderr under the full-screen UI.
 */
import { Writable } from 'node:stream';
import { Reporter } from '../cli/output.js';

/** A Reporter that hands each human line to `notice` (warnings as 'warn'). */
export function noticeReporter(notice: (level: 'info' | 'warn', text: string) => void): Reporter {
  const sink = (level: 'info' | 'warn') =>
    new Writable({
      write(chunk: Buffer, _enc, done) {
        for (const line of chunk.toString('utf8').split('\n')) {
          const text = line.trim();
          if (text) notice(/^WARNING|^warning/.test(text) ? 'warn' : level, text);
        }
        done();
      },
    }) as unknown as NodeJS.WriteStream;
  return new Reporter(false, sink('info'), sink('info'));
}
