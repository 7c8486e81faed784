import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DiskUsageWalk, ownFilesystemUsage } from './disk-usage.js';

describe('DiskUsageWalk', () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'rclaude-du-'));
  afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

  it('counts what du counts, in steps of bounded time, hard links once and symlinks not followed', async () => {
    const ws = path.join(root, 'workspace');
    const outside = path.join(root, 'outside');
    fs.mkdirSync(outside);
    fs.writeFileSync(path.join(outside, 'big'), randomBytes(4 << 20));
    for (let d = 0; d < 120; d++) {
      const dir = path.join(ws, `d${d}`, 'deeper');
      fs.mkdirSync(dir, { recursive: true });
      fs.writeFileSync(path.join(dir, 'f'), randomBytes(3000 + d));
    }
    fs.writeFileSync(path.join(ws, 'one'), randomBytes(1 << 20));
    fs.linkSync(path.join(ws, 'one'), path.join(ws, 'd0', 'same-one'));
    fs.symlinkSync(outside, path.join(ws, 'link-out'));
    fs.symlinkSync(path.join(outside, 'big'), path.join(ws, 'big-link'));

    const walk = new DiskUsageWalk([ws]);
    let steps = 0;
    let result = await walk.step(0);
    while (!result.done) {
      steps++;
      result = await walk.step(1);
    }
    expect(steps, 'a zero budget stops after the first directory').toBeGreaterThan(0);
    const du = Number(execFileSync('du', ['-s', '--block-size=1', ws], { encoding: 'utf8' }).split('\t')[0]);
    expect(result.bytes).toBe(du);
    expect(walk.last).toBe(du);
    // The 4 MiB file behind the symlinks is not counted.
    expect(result.bytes).toBeLessThan(4 << 20);

    // The next pass starts over and sees what changed.
    fs.writeFileSync(path.join(ws, 'more'), randomBytes(2 << 20));
    let again = await walk.step(10_000);
    while (!again.done) again = await walk.step(10_000);
    expect(again.bytes).toBeGreaterThanOrEqual(du + (2 << 20));
  });

  it('uses statfs only for a directory that is a filesystem of its own', () => {
    expect(ownFilesystemUsage(root)).toBeNull();
    expect(ownFilesystemUsage('/proc')).not.toBeNull();
  });
});
