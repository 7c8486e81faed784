import { describe, expect, it } from 'vitest';
import { parsePort } from './ports-control.js';

describe('parsePort', () => {
  it('takes 1 to 65535, with spaces around', () => {
    expect(parsePort('3000')).toBe(3000);
    expect(parsePort(' 8080 ')).toBe(8080);
    expect(parsePort('1')).toBe(1);
    expect(parsePort('65535')).toBe(65535);
  });

  it('refuses anything else', () => {
    for (const text of ['', '0', '65536', '99999', '-1', '30.5', '3e3', 'abc', '0x10', '123456']) {
      expect(parsePort(text), text).toBeNull();
    }
  });
});
