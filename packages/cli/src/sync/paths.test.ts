import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { remoteCopyName } from './engine.js';
import { isAlwaysIgnoredName } from './ignore.js';
import { checkRemotePath, localTarget, SyncPathError } from './paths.js';

describe('checkRemotePath: a path the sandbox names', () => {
  it.each([
    ['../outside'],
    ['a/../../etc/passwd'],
    ['/etc/passwd'],
    ['a//b'],
    ['./a'],
    ['a\\..\\b'],
    ['a\u0000b'],
    ['a\nb'],
    ['evil\x1b]52;c;AAAA\x07'],
    [''],
    ['a/'],
    [`${'x'.repeat(256)}`],
    ['\uD800lone'],
  ])('refuses %j', (p) => {
    expect(() => checkRemotePath(p)).toThrow(SyncPathError);
  });

  it('takes plain relative paths, names with spaces, dots and non-ASCII', () => {
    expect(checkRemotePath('src/a b/f ü.txt')).toEqual(['src', 'a b', 'f ü.txt']);
    expect(checkRemotePath('.gitignore')).toEqual(['.gitignore']);
    expect(checkRemotePath('a/..b/c..')).toEqual(['a', '..b', 'c..']);
  });
});

describe('localTarget: where a path lands in the local folder', () => {
  let root: string;
  let dir: string;
  let outside: string;

  beforeEach(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'rclaude-sync-paths-'));
    dir = path.join(root, 'dir');
    outside = path.join(root, 'outside');
    fs.mkdirSync(dir);
    fs.mkdirSync(outside);
  });
  afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

  it('makes missing folders, one checked name at a time', () => {
    expect(localTarget(dir, 'a/b/c.txt', { create: true })).toBe(path.join(dir, 'a/b/c.txt'));
    expect(fs.statSync(path.join(dir, 'a/b')).isDirectory()).toBe(true);
  });

  it('refuses a folder on the way that is a symlink out of the folder, and writes nothing there', () => {
    fs.symlinkSync(outside, path.join(dir, 'link'));
    expect(() => localTarget(dir, 'link/x.txt', { create: true })).toThrow(/symbolic link/);
    expect(() => localTarget(dir, 'link/deeper/x.txt', { create: true })).toThrow(/symbolic link/);
    expect(fs.readdirSync(outside)).toEqual([]);
  });

  it('refuses a last name that is a symlink (never written through) or a folder', () => {
    fs.symlinkSync(path.join(outside, 'f'), path.join(dir, 'f'));
    expect(() => localTarget(dir, 'f', { create: false })).toThrow(/symbolic link/);
    fs.mkdirSync(path.join(dir, 'd'));
    expect(() => localTarget(dir, 'd', { create: false })).toThrow(/not a regular file/);
  });

  it('refuses a file where a folder is needed', () => {
    fs.writeFileSync(path.join(dir, 'file'), 'x');
    expect(() => localTarget(dir, 'file/x', { create: true })).toThrow(/not a folder/);
  });
});

describe('remoteCopyName', () => {
  const sha = 'abcdef0123456789'.repeat(4);
  it('puts the marker before the extension, and after a leading-dot name', () => {
    expect(remoteCopyName('src/a.ts', sha)).toBe('src/a.remote-abcdef01.ts');
    expect(remoteCopyName('Makefile', sha)).toBe('Makefile.remote-abcdef01');
    expect(remoteCopyName('.env', sha)).toBe('.env.remote-abcdef01');
    expect(remoteCopyName('a.tar.gz', sha, 2)).toBe('a.tar.remote-abcdef01-2.gz');
  });
});

describe('isAlwaysIgnoredName', () => {
  it('leaves out .git and node_modules in any letter case, and sync’s own temporary files', () => {
    for (const name of ['.git', '.GIT', '.Git', 'node_modules', 'Node_Modules', '.rclaude-sync-0a1b2c']) {
      expect(isAlwaysIgnoredName(name), name).toBe(true);
    }
    for (const name of ['.gitignore', '.github', 'git', 'node_modules2', 'src']) {
      expect(isAlwaysIgnoredName(name), name).toBe(false);
    }
  });
});
