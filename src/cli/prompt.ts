/** Yes/no questions on the terminal, one at a time. */
import { createInterface } from 'node:readline/promises';

let queue: Promise<unknown> = Promise.resolve();

/** Whether there is a person to ask. */
export function canAsk(): boolean {
  return Boolean(process.stdin.isTTY);
}

/**
 * Ask on stderr and read a line from stdin; true only for y/yes. Questions
 * from concurrent transfers wait their turn. An abort or a closed stdin
 * counts as no.
 */
export function askYesNo(question: string, signal?: AbortSignal): Promise<boolean> {
  const turn = queue.then(async () => {
    if (signal?.aborted) return false;
    const rl = createInterface({ input: process.stdin, output: process.stderr });
    try {
      const answer = await rl.question(`${question} [y/N] `, signal ? { signal } : {});
      return /^y(es)?$/i.test(answer.trim());
    } catch {
      return false;
    } finally {
      rl.close();
    }
  });
  queue = turn.catch(() => undefined);
  return turn;
}
