import { resolve } from 'node:path';
import { AppError } from '@rclaude/protocol';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MAX_NAME_BYTES, splitWorkspacePath } from './workspace-path.js';

const ROOT = '/srv/workspace';

/** Path-ish strings built from the pieces that make escapes, joined by either separator. */
const trickyPath = fc
  .array(
    fc.oneof(
      fc.constantFrom(
        '..',
        '.',
        '',
        '...',
        '%2e%2e',
        '%2f',
        '%252e',
        '%00',
        '~',
        'C:',
        'a',
        'é',
        '\u202e',
        '😀',
        ' ..',
        '.. ',
      ),
      fc.string({ unit: 'grapheme', maxLength: 8 }),
      fc.string({ unit: fc.constantFrom('.', '/', '\\', '%', '2', 'e', 'f'), maxLength: 8 }),
    ),
    { maxLength: 12 },
  )
  .chain((parts) => fc.constantFrom('/', '\\', '//').map((sep) => parts.join(sep)));

const anyPath = fc.oneof(trickyPath, fc.string({ unit: 'binary', maxLength: 64 }), fc.string({ maxLength: 64 }));

describe('splitWorkspacePath', () => {
  it('never yields a name that could leave the root; otherwise it refuses', () => {
    fc.assert(
      fc.property(anyPath, fc.constantFrom('', '/'), (path, prefix) => {
        const input = prefix + path;
        let names: string[];
        try {
          names = splitWorkspacePath(input);
        } catch (err) {
          expect(err).toBeInstanceOf(AppError);
          expect((err as AppError).code).toBe('PATH_REFUSED');
          return;
        }
        for (const name of names) {
          expect(['', '.', '..']).not.toContain(name);
          expect(name).not.toMatch(/[/\\\u0000]/);
          expect(Buffer.byteLength(name)).toBeLessThanOrEqual(MAX_NAME_BYTES);
        }
        const resolved = resolve(ROOT, ...names);
        expect(resolved === ROOT || resolved.startsWith(`${ROOT}/`)).toBe(true);
      }),
      { numRuns: 5000 },
    );
  });

  it('refuses every path that contains a ".." segment, a backslash, a NUL, or starts with "/"', () => {
    fc.assert(
      fc.property(anyPath, (path) => {
        const segments = path.split('/');
        const bad = segments.includes('..') || path.includes('\\') || path.includes('\u0000') || path.startsWith('/');
        if (bad) expect(() => splitWorkspacePath(path)).toThrow(AppError);
      }),
      { numRuns: 5000 },
    );
  });

  it('keeps the names of a plain relative path in order, dropping empty and "." segments', () => {
    expect(splitWorkspacePath('')).toEqual([]);
    expect(splitWorkspacePath('.')).toEqual([]);
    expect(splitWorkspacePath('./a//b/./c/')).toEqual(['a', 'b', 'c']);
    expect(splitWorkspacePath('...')).toEqual(['...']);
  });

  it('treats percent-encoding literally, never decoding a second time', () => {
    expect(splitWorkspacePath('%2e%2e/%2e%2e/etc')).toEqual(['%2e%2e', '%2e%2e', 'etc']);
    expect(splitWorkspacePath('..%2f..%2fetc')).toEqual(['..%2f..%2fetc']);
  });

  it.each([
    ['../etc/passwd', '".." may not appear'],
    ['a/../../b', '".." may not appear'],
    ['/etc/passwd', 'not absolute'],
    ['..\\..\\etc', 'backslash'],
    ['a\u0000b', 'NUL'],
    ['a/\uD800', 'well-formed'],
    ['x'.repeat(256), 'longer than 255 bytes'],
    [Array.from({ length: 300 }, () => 'd').join('/'), 'deeper than'],
  ])('refuses %j with a message saying why', (path, why) => {
    expect(() => splitWorkspacePath(path)).toThrow(why);
  });
});
