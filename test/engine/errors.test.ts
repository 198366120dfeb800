/**
 * toFerryError: what the file system says becomes a code the user can act
 * on (a full disk or a file too large for it is NO_SPACE, not a bare IO
 * error), and the CLI's resume hint names what to do.
 */
import { describe, expect, it } from 'vitest';
import { withResumeHint } from '../../src/cli/receive.js';
import { FerryError, toFerryError } from '../../src/engine/errors.js';

const sysError = (code: string, message: string) => Object.assign(new Error(message), { code });

describe('toFerryError', () => {
  it.each([
    ['ENOSPC', 'ENOSPC: no space left on device, write', /^the disk is full \(ENOSPC/],
    ['EDQUOT', 'EDQUOT: disk quota exceeded, write', /^the disk is full \(EDQUOT/],
    ['EFBIG', 'EFBIG: file too large, write', /^the file is larger than this file system/],
  ])('%s is NO_SPACE, said plainly, with the system error kept', (code, message, said) => {
    const cause = sysError(code, message);
    const fe = toFerryError(cause);
    expect(fe.code).toBe('NO_SPACE');
    expect(fe.message).toMatch(said);
    expect(fe.message).toContain(message);
    expect(fe.cause).toBe(cause);
    expect(fe.retryable).toBe(false);
  });

  it('other errors keep their message under the fallback code; FerryErrors pass through', () => {
    expect(toFerryError(sysError('EACCES', 'EACCES: permission denied'))).toMatchObject({
      code: 'IO',
      message: 'EACCES: permission denied',
    });
    const fe = new FerryError('INTEGRITY', 'bad leaf');
    expect(toFerryError(fe)).toBe(fe);
  });
});

describe('withResumeHint (ferry receive)', () => {
  it('a full disk says to make room and run again; to resume once something arrived', () => {
    const full = new FerryError('NO_SPACE', 'the disk is full');
    expect(withResumeHint(full, true).message).toBe(
      'the disk is full; make room or pick another --dir, then run the same command again to resume (what arrived is kept)',
    );
    expect(withResumeHint(full, false).message).toMatch(/then run the same command again$/);
    expect(withResumeHint(full, true).code).toBe('NO_SPACE');
  });

  it('a lost connection after the start says a re-run resumes; other failures are left alone', () => {
    const lost = new FerryError('CONNECTION', 'sender closed the stream');
    expect(withResumeHint(lost, true).message).toMatch(/run the same command again to resume/);
    expect(withResumeHint(lost, false)).toBe(lost);
    const bad = new FerryError('INTEGRITY', 'root mismatch');
    expect(withResumeHint(bad, true)).toBe(bad);
  });
});
