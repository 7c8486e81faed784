import { AppError } from '@rclaude/protocol';

/** The error both output logs throw when an append would leave a hole: bytes `end..offset` never arrived. */
export function outputGapError(sessionId: string, end: number, offset: number): AppError {
  return new AppError('CONFLICT', `output of session ${sessionId} has a gap: stored up to ${end}, got ${offset}`, {
    details: { end, offset },
  });
}

/** Offsets are byte counts: non-negative safe integers. A bad one is a caller bug, refused before storing. */
export function checkOffset(what: string, value: number): void {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new AppError('BAD_REQUEST', `${what} must be a non-negative integer, got ${value}`);
  }
}
