import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { detectCgroups, keyed } from './cgroups.js';

const limits = { memoryBytes: 256 * 1024 * 1024, cpus: 1.5, pids: 100, diskBytes: 0 };

describe('cgroup v2 (a stand-in hierarchy: files where the kernel has them)', () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'rclaude-cg2-'));
  afterAll(() => fs.rmSync(root, { recursive: true, force: true }));
  const mountinfo = (point: string) =>
    `30 22 0:27 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw\n40 30 0:37 / ${point.replace(/ /g, '\\040')} rw,relatime - cgroup2 cgroup2 rw,nsdelegate\n`;

  function service(name: string, controllers: string): string {
    const dir = path.join(root, name);
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, 'cgroup.controllers'), controllers);
    fs.writeFileSync(path.join(dir, 'cgroup.subtree_control'), '');
    fs.writeFileSync(path.join(dir, 'cgroup.procs'), `${process.pid}\n`);
    return dir;
  }

  it('delegates memory, pids and cpu below the server cgroup and writes each limit', () => {
    const base = service('system.slice/rclaude.service', 'cpuset cpu io memory pids');
    const found = detectCgroups({ mountinfo: mountinfo(root), selfCgroup: '0::/system.slice/rclaude.service\n' });
    expect(found.ok).toBe(true);
    if (!found.ok) return;
    const cg = found.cgroups;
    expect(cg.version).toBe('v2');
    expect(cg.missing).toEqual([]);
    expect(cg.parents).toEqual([path.join(base, 'rclaude-sandboxes')]);
    expect(fs.readFileSync(path.join(base, 'cgroup.subtree_control'), 'utf8')).toBe('+memory +pids +cpu');
    expect(fs.readFileSync(path.join(base, 'rclaude-sandboxes', 'cgroup.subtree_control'), 'utf8')).toBe(
      '+memory +pids +cpu',
    );
    const sandbox = cg.create('sb1', limits);
    const dir = path.join(base, 'rclaude-sandboxes', 'sb1');
    expect(sandbox.procsFiles()).toEqual([path.join(dir, 'cgroup.procs')]);
    expect(fs.readFileSync(path.join(dir, 'memory.max'), 'utf8')).toBe(String(256 * 1024 * 1024));
    expect(fs.readFileSync(path.join(dir, 'pids.max'), 'utf8')).toBe('100');
    expect(fs.readFileSync(path.join(dir, 'cpu.max'), 'utf8')).toBe('150000 100000');
    expect(sandbox.counters()).toEqual({ oomKills: 0, pidsMax: 0 });
    fs.writeFileSync(path.join(dir, 'memory.events'), 'low 0\nhigh 0\nmax 12\noom 2\noom_kill 1\noom_group_kill 0\n');
    fs.writeFileSync(path.join(dir, 'pids.events'), 'max 7\n');
    expect(sandbox.counters()).toEqual({ oomKills: 1, pidsMax: 7 });
    expect(cg.open([dir]).counters()).toEqual({ oomKills: 1, pidsMax: 7 });
  });

  it('without memory or pids controllers (or any v1), says why, so the server can fall back and warn', () => {
    service('user.slice/term.scope', 'cpu io');
    const found = detectCgroups({ mountinfo: mountinfo(root), selfCgroup: '0::/user.slice/term.scope\n' });
    expect(found).toEqual({
      ok: false,
      reason: expect.stringMatching(/does not offer the memory and pids controllers.*no cgroup v1 memory hierarchy/),
    });
    expect(detectCgroups({ mountinfo: '', selfCgroup: '' })).toEqual({
      ok: false,
      reason: expect.stringContaining('no cgroup v2 hierarchy is mounted'),
    });
  });

  it('reads flat-keyed files', () => {
    expect(keyed('oom 3\noom_kill 2\n', 'oom_kill')).toBe(2);
    expect(keyed('oom 3\n', 'oom_kill')).toBe(0);
    expect(keyed(null, 'max')).toBe(0);
  });
});

const system = detectCgroups();
describe.runIf(system.ok && system.cgroups.version === 'v1')('cgroup v1 of this machine', () => {
  it('holds a fork beyond pids.max, counts the refusal, and removes the cgroup once empty', async () => {
    if (!system.ok) return;
    const id = `test-${process.pid}-${Date.now()}`;
    const cg = system.cgroups.create(id, { ...limits, pids: 8 });
    try {
      // Twenty background sleeps in a cgroup that holds eight processes: some forks must fail.
      const script = `${cg
        .procsFiles()
        .map((f) => `echo $$ > ${f}`)
        .join('; ')}; for i in $(seq 20); do sleep 2 & done 2>/dev/null; wait`;
      const child = spawn('sh', ['-c', script], { stdio: 'ignore' });
      await new Promise((r) => child.once('exit', r));
      expect(cg.counters().pidsMax).toBeGreaterThan(0);
      expect(cg.counters().oomKills).toBe(0);
      const memory = cg.dirs.find((d) => d.includes('/memory/')) as string;
      expect(fs.readFileSync(path.join(memory, 'memory.limit_in_bytes'), 'utf8').trim()).toBe(
        String(256 * 1024 * 1024),
      );
    } finally {
      cg.kill();
      for (let i = 0; i < 50 && !cg.remove(); i++) await new Promise((r) => setTimeout(r, 100));
    }
    expect(cg.dirs.some((d) => fs.existsSync(d))).toBe(false);
  });

  it('sweeps only empty sandbox cgroups older than asked', async () => {
    if (!system.ok) return;
    const left = system.cgroups.create(`test-left-${process.pid}-${Date.now()}`, limits);
    const busy = system.cgroups.create(`test-busy-${process.pid}-${Date.now()}`, limits);
    const child = spawn(
      'sh',
      [
        '-c',
        `${busy
          .procsFiles()
          .map((f) => `echo $$ > ${f}`)
          .join('; ')}; exec sleep 30`,
      ],
      {
        stdio: 'ignore',
      },
    );
    try {
      await new Promise((r) => setTimeout(r, 300));
      expect(busy.pids()).toContain(child.pid);
      system.cgroups.sweep(60_000);
      expect(
        left.dirs.every((d) => fs.existsSync(d)),
        'a fresh empty one is not touched',
      ).toBe(true);
      // Made ten minutes ago, as far as the sweep can tell (a zero age would race other servers' fresh cgroups).
      const then = new Date(Date.now() - 600_000);
      for (const d of [...left.dirs, ...busy.dirs]) fs.utimesSync(d, then, then);
      expect(system.cgroups.sweep(60_000)).toBeGreaterThanOrEqual(1);
      expect(left.dirs.some((d) => fs.existsSync(d))).toBe(false);
      expect(busy.dirs.every((d) => fs.existsSync(d))).toBe(true);
    } finally {
      child.kill('SIGKILL');
      await new Promise((r) => child.once('exit', r));
      for (let i = 0; i < 50 && !busy.remove(); i++) await new Promise((r) => setTimeout(r, 100));
      left.remove();
    }
  });
});
