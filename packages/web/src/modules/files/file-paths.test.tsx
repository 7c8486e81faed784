import { fireEvent, render, screen } from '@testing-library/react';
import { describe, expect, it, vi } from 'vitest';
import { decodeText, formatBytes, languageForFile } from './file-kind.js';
import { ancestorPaths, baseName, breadcrumbs, joinPath, normalizePath, parentPath } from './file-paths.js';
import { PathBreadcrumbs } from './path-breadcrumbs.js';

describe('workspace paths', () => {
  it('normalises separators, dots and stray slashes', () => {
    expect(normalizePath('./src//lib/./a.ts/')).toBe('src/lib/a.ts');
    expect(normalizePath('/etc\\passwd')).toBe('etc/passwd');
    expect(normalizePath('')).toBe('');
    expect(normalizePath('a/../b')).toBe('a/../b');
  });

  it('builds breadcrumbs from the root down', () => {
    expect(breadcrumbs('src/lib/a.ts')).toEqual([
      { name: 'workspace', path: '' },
      { name: 'src', path: 'src' },
      { name: 'lib', path: 'src/lib' },
      { name: 'a.ts', path: 'src/lib/a.ts' },
    ]);
    expect(breadcrumbs('')).toEqual([{ name: 'workspace', path: '' }]);
  });

  it('knows parents, ancestors, base names and joins', () => {
    expect(parentPath('src/lib/a.ts')).toBe('src/lib');
    expect(parentPath('a.ts')).toBe('');
    expect(ancestorPaths('src/lib/a.ts')).toEqual(['', 'src', 'src/lib']);
    expect(baseName('src/lib/a.ts')).toBe('a.ts');
    expect(joinPath('', 'a.ts')).toBe('a.ts');
    expect(joinPath('src/', 'a.ts')).toBe('src/a.ts');
  });
});

describe('PathBreadcrumbs', () => {
  it('lets you jump to any folder above the file, and marks the file as current', () => {
    const onSelectDir = vi.fn();
    render(<PathBreadcrumbs path="src/lib/a.ts" onSelectDir={onSelectDir} />);
    const nav = screen.getByRole('navigation', { name: 'File path' });
    expect(nav.textContent).toBe('workspacesrcliba.ts');
    fireEvent.click(screen.getByRole('button', { name: 'lib' }));
    fireEvent.click(screen.getByRole('button', { name: 'workspace' }));
    expect(onSelectDir.mock.calls).toEqual([['src/lib'], ['']]);
    expect(screen.queryByRole('button', { name: 'a.ts' })).toBeNull();
    expect(screen.getByText('a.ts').getAttribute('aria-current')).toBe('page');
  });
});

describe('file kinds', () => {
  const utf8 = (s: string) => new TextEncoder().encode(s);

  it('decodes text and refuses binary', () => {
    expect(decodeText(utf8('héllo'), false)).toBe('héllo');
    expect(decodeText(new Uint8Array([0x50, 0x4b, 0x03, 0x00, 0x04]), false)).toBeNull();
    expect(decodeText(new Uint8Array([0xff, 0xfe, 0x41]), false)).toBeNull();
  });

  it('accepts a capped read that ends inside a character', () => {
    const bytes = utf8('ok €'); // € is 3 bytes
    expect(decodeText(bytes.subarray(0, bytes.length - 1), true)).toBe('ok ');
    expect(decodeText(bytes.subarray(0, bytes.length - 1), false)).toBeNull();
  });

  it('picks a highlighter language from the file name', () => {
    expect(languageForFile('server.ts')).toBe('typescript');
    expect(languageForFile('Dockerfile.prod')).toBe('dockerfile');
    expect(languageForFile('Makefile')).toBe('makefile');
    expect(languageForFile('.bashrc')).toBe('bash');
    expect(languageForFile('notes')).toBeNull();
    expect(languageForFile('data.unknownext')).toBeNull();
  });

  it('formats sizes', () => {
    expect(formatBytes(512)).toBe('512 B');
    expect(formatBytes(3500)).toBe('3.4 KB');
    expect(formatBytes(12 * 1024 * 1024)).toBe('12 MB');
  });
});
