import { execFileSync } from 'node:child_process';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { escapeControlChars, shellCommand } from './safe-text.js';

describe('escapeControlChars', () => {
  it('makes C0, DEL, C1 and bidi controls visible and leaves everything else alone', () => {
    expect(escapeControlChars('a\x1b]52;c;Zm9v\x07b')).toBe('a\\x1b]52;c;Zm9v\\x07b');
    expect(escapeControlChars('\x1b[2J\r\x08\x00\x7f\x9b\x85')).toBe('\\x1b[2J\\r\\x08\\x00\\x7f\\x9b\\x85');
    expect(escapeControlChars('evil\u202etxt.exe\u2066')).toBe('evil\\u202etxt.exe\\u2066');
    expect(escapeControlChars('tab\there\nnext')).toBe('tab\\there\\nnext');
    expect(escapeControlChars('tab\there\nnext\r', { multiline: true })).toBe('tab\there\nnext\\r');
    expect(escapeControlChars('plain ünïcödé 日本 ✓ → ● \\x1b')).toBe('plain ünïcödé 日本 ✓ → ● \\x1b');
  });

  it('never lets a control character through, whatever the input', () => {
    const control = /[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/;
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), (s) => {
        expect(escapeControlChars(s)).not.toMatch(control);
        expect(escapeControlChars(s, { multiline: true }).replace(/[\n\t]/g, '')).not.toMatch(control);
      }),
    );
  });
});

describe('shellCommand', () => {
  it('quotes each argument so a real shell reads back exactly those arguments', () => {
    const special = fc.constantFrom(...'ab ;&|$`\'"\\()*?~!#<>{}[]=-:/.%'.split(''));
    fc.assert(
      fc.property(fc.array(fc.string({ unit: special }), { minLength: 1, maxLength: 4 }), (args) => {
        const line = shellCommand(['printf', '%s\\0', ...args]);
        const out = execFileSync('sh', ['-c', line], { encoding: 'utf8' });
        expect(out).toBe(args.map((a) => `${a}\0`).join(''));
      }),
      { numRuns: 60 },
    );
    expect(shellCommand(['rclaude', 'cp', 'abc123:.rclaude/changes.diff', '.'])).toBe(
      'rclaude cp abc123:.rclaude/changes.diff .',
    );
    expect(shellCommand(['rclaude', 'attach', 'x; rm -rf ~'])).toBe("rclaude attach 'x; rm -rf ~'");
  });

  it('shows control characters of an argument instead of printing them', () => {
    const line = shellCommand(['git', 'apply', '/tmp/x\x1b]52;c;Zm9v\x07; rm -rf ~']);
    expect(line).not.toMatch(/[\u0000-\u001f]/);
    expect(line).toContain('\\x1b');
    expect(line.startsWith('git apply ')).toBe(true);
  });
});
