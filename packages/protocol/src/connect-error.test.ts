import { describe, expect, it } from 'vitest';
import { connectErrorOf } from './connect-error.js';
import { AppError } from './errors.js';

describe('connectErrorOf', () => {
  it("reads the server's refusal of a handshake as an AppError with its code", () => {
    const err = Object.assign(new Error('token refused'), {
      data: { code: 'UNAUTHENTICATED', message: 'token refused' },
    });
    const refusal = connectErrorOf(err);
    expect(refusal).toBeInstanceOf(AppError);
    expect(refusal).toMatchObject({ code: 'UNAUTHENTICATED', message: 'token refused' });
  });

  it('answers null for a transport failure or a payload of another shape', () => {
    expect(connectErrorOf(new Error('xhr poll error'))).toBeNull();
    expect(connectErrorOf(Object.assign(new Error('x'), { data: { code: 'NOT_A_CODE', message: 'x' } }))).toBeNull();
    expect(connectErrorOf(null)).toBeNull();
  });
});
