import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CHECKPOINT_FORMAT, type CheckpointManifest } from '@rclaude/protocol';
import { afterAll, describe, expect, it } from 'vitest';
import { isConfigPath, moveCwd } from '../commands/handoff.js';
import { fastImportPath, fastImportStream, gitWithInput, workspaceEntries } from './git-import.js';

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

describe('fast-import of a checkpoint workspace', () => {
  it('makes one commit holding exactly the files and links, odd names and exec bits included, leaving .git out', async () => {
    const repo = fs.mkdtempSync(path.join(os.tmpdir(), 'rclaude-fi-'));
    dirs.push(repo);
    execFileSync('git', ['init', '-q', repo]);
    const files: Record<string, Buffer> = {
      'a.txt': Buffer.from('a\n'),
      'dir/"quoted" name.txt': Buffer.from('q\n'),
      'run.sh': Buffer.from('#!/bin/sh\n'),
      '.git/config': Buffer.from('[core]\n\tfsmonitor = evil\n'),
    };
    const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
    const manifest: CheckpointManifest = {
      format: CHECKPOINT_FORMAT,
      createdAt: new Date().toISOString(),
      workspace: '/workspace',
      excluded: [],
      claudeSessionId: null,
      entries: [
        ...Object.entries(files).map(([p, b]) => ({
          type: 'file' as const,
          root: 'workspace' as const,
          path: p,
          mode: p === 'run.sh' ? 0o755 : 0o644,
          size: b.length,
          hash: sha(b),
        })),
        { type: 'symlink', root: 'workspace', path: 'link', target: 'a.txt' },
        { type: 'file', root: 'claude', path: 's.jsonl', mode: 0o600, size: 1, hash: sha(Buffer.from('x')) },
      ],
    };
    const entries = workspaceEntries(manifest);
    expect(entries.map((e) => e.path)).toEqual(['a.txt', 'dir/"quoted" name.txt', 'run.sh', 'link']);
    async function* read() {
      for (const e of entries) if (e.type === 'file') yield files[e.path] ?? Buffer.alloc(0);
    }
    const r = await gitWithInput(
      repo,
      ['fast-import', '--quiet', '--done'],
      fastImportStream({ ref: 'refs/heads/x', parent: null, message: 'm\n', entries, read: read() }),
    );
    expect(r.code, r.stderr).toBe(0);
    const tree = execFileSync('git', ['-C', repo, 'ls-tree', '-r', 'x'], { encoding: 'utf8' });
    expect(tree).toMatch(/^100644 blob \S+\ta\.txt$/m);
    expect(tree).toMatch(/^100755 blob \S+\trun\.sh$/m);
    expect(tree).toMatch(/^120000 blob \S+\tlink$/m);
    expect(tree).toContain('"dir/\\"quoted\\" name.txt"');
    expect(tree).not.toContain('.git');
    expect(execFileSync('git', ['-C', repo, 'show', 'x:dir/"quoted" name.txt'], { encoding: 'utf8' })).toBe('q\n');
  });

  it('quotes only the paths fast-import would misread', () => {
    expect(fastImportPath('plain name.txt')).toBe('plain name.txt');
    expect(fastImportPath('"starts')).toBe('"\\"starts"');
    expect(fastImportPath('new\nline')).toBe('"new\\nline"');
  });
});

describe('moveCwd', () => {
  it("moves each line's cwd under the sandbox workspace to the local clone, and keeps everything else", () => {
    const text = [
      JSON.stringify({ type: 'user', cwd: '/workspace', n: 1 }),
      JSON.stringify({ type: 'user', cwd: '/workspace/sub' }),
      JSON.stringify({ type: 'user', cwd: '/workspace-other' }),
      'not json "cwd"',
      '',
    ].join('\n');
    const moved = moveCwd(text, '/workspace', '/home/me/app').split('\n');
    expect(JSON.parse(moved[0] ?? '')).toEqual({ type: 'user', cwd: '/home/me/app', n: 1 });
    expect(JSON.parse(moved[1] ?? '').cwd).toBe('/home/me/app/sub');
    expect(JSON.parse(moved[2] ?? '').cwd).toBe('/workspace-other');
    expect(moved.slice(3)).toEqual(['not json "cwd"', '']);
  });
});

describe('isConfigPath: what --apply leaves out unless --allow-config', () => {
  it('names the files tools on the laptop run or load by themselves, at any depth and in any case', () => {
    for (const p of [
      '.claude/settings.json',
      '.mcp.json',
      'sub/.envrc',
      '.vscode/tasks.json',
      '.GitAttributes',
      'a/.gitmodules',
    ]) {
      expect(isConfigPath(p), p).toBe(true);
    }
  });

  it('lets ordinary files through, even ones whose names look alike', () => {
    for (const p of ['src/claude.ts', 'docs/.claude-notes.md', 'x.mcp.json.bak', 'envrc', 'README.md']) {
      expect(isConfigPath(p), p).toBe(false);
    }
  });
});
