import fs from 'node:fs';
import path from 'node:path';
import type { SandboxLimits } from './limits.js';

/** Counts of limit hits in a sandbox's cgroup since it was created. */
export interface CgroupCounters {
  /** Processes the kernel's OOM killer ended because the cgroup reached its memory limit. */
  oomKills: number;
  /** Forks refused because the cgroup reached its process limit. */
  pidsMax: number;
}

/** One sandbox's cgroup (one directory on v2, one per controller hierarchy on v1). */
export interface SandboxCgroup {
  readonly dirs: string[];
  /** The files a process writes its pid into to join. */
  procsFiles(): string[];
  counters(): CgroupCounters;
  /** Pids of the processes in it. */
  pids(): number[];
  /** SIGKILLs every process in it. */
  kill(): void;
  /** Removes it; false while processes remain (try again once they are gone). */
  remove(): boolean;
}

/** A writable cgroup hierarchy in which sandboxes get cgroups of their own. */
export interface Cgroups {
  version: 'v2' | 'v1';
  /** The directories holding sandboxes' cgroups, one per hierarchy. */
  parents: string[];
  /** Controllers that are not available here (their limits are not applied), e.g. `cpu`. */
  missing: string[];
  create(sandboxId: string, limits: SandboxLimits): SandboxCgroup;
  /** A cgroup created earlier (by this or a previous server process), from its directories. */
  open(dirs: string[]): SandboxCgroup;
  /**
   * Removes sandbox cgroups left empty for at least `olderThanMs` (their sandbox ended while no server was
   * running to remove them), whichever server made them; returns how many. A sandbox's cgroup holds its
   * processes from its first instant to its end, so an old empty one belongs to nobody.
   */
  sweep(olderThanMs: number): number;
}

export type CgroupDetection = { ok: true; cgroups: Cgroups } | { ok: false; reason: string };

export interface DetectOptions {
  /** /proc/self/mountinfo; default read from the system. */
  mountinfo?: string;
  /** /proc/self/cgroup; default read from the system. */
  selfCgroup?: string;
  /** This process (moved into a leaf of its own on cgroup v2 if need be). Default process.pid. */
  pid?: number;
}

const SANDBOXES = 'rclaude-sandboxes';
const CPU_PERIOD_US = 100_000;

/**
 * Finds a cgroup hierarchy where this server may create a cgroup per sandbox with memory, process and CPU
 * limits: cgroup v2 when its memory and pids controllers can be delegated below the server's own cgroup,
 * else cgroup v1 when its memory and pids hierarchies are mounted and writable. The reason when neither is.
 */
export function detectCgroups(opts: DetectOptions = {}): CgroupDetection {
  const mountinfo = opts.mountinfo ?? readText('/proc/self/mountinfo') ?? '';
  const selfCgroup = opts.selfCgroup ?? readText('/proc/self/cgroup') ?? '';
  const mounts = parseMountinfo(mountinfo);
  const memberships = parseSelfCgroup(selfCgroup);
  const reasons: string[] = [];
  const v2 = detectV2(mounts, memberships, opts.pid ?? process.pid);
  if (v2.ok) return v2;
  reasons.push(v2.reason);
  const v1 = detectV1(mounts, memberships);
  if (v1.ok) return v1;
  reasons.push(v1.reason);
  return { ok: false, reason: reasons.join('; ') };
}

interface Mount {
  root: string;
  point: string;
  fstype: string;
  superOptions: string[];
}

function parseMountinfo(text: string): Mount[] {
  const out: Mount[] = [];
  for (const line of text.split('\n')) {
    const sep = line.indexOf(' - ');
    if (sep < 0) continue;
    const left = line.slice(0, sep).split(' ');
    const right = line.slice(sep + 3).split(' ');
    if (left.length < 5 || right.length < 3) continue;
    out.push({
      root: unescapeOctal(left[3] as string),
      point: unescapeOctal(left[4] as string),
      fstype: right[0] as string,
      superOptions: (right[2] as string).split(','),
    });
  }
  return out;
}

/** mountinfo escapes space, tab, newline and backslash as octal. */
function unescapeOctal(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(Number.parseInt(oct, 8)));
}

interface Membership {
  controllers: string[];
  path: string;
}

function parseSelfCgroup(text: string): Membership[] {
  const out: Membership[] = [];
  for (const line of text.split('\n')) {
    const m = /^(\d+):([^:]*):(.*)$/.exec(line.trim());
    if (m) out.push({ controllers: (m[2] as string).split(',').filter(Boolean), path: m[3] as string });
  }
  return out;
}

/** Where the cgroup `cgroupPath` of a hierarchy appears under its mount, or null when the mount does not show it. */
function resolveIn(mount: Mount, cgroupPath: string): string | null {
  if (mount.root === '/') return path.join(mount.point, cgroupPath);
  if (cgroupPath === mount.root || cgroupPath.startsWith(`${mount.root}/`)) {
    return path.join(mount.point, cgroupPath.slice(mount.root.length));
  }
  return null;
}

function detectV2(mounts: Mount[], memberships: Membership[], pid: number): CgroupDetection {
  const mount = mounts.find((m) => m.fstype === 'cgroup2');
  const self = memberships.find((m) => m.controllers.length === 0 && m.path.startsWith('/'));
  if (!mount || !self) return { ok: false, reason: 'no cgroup v2 hierarchy is mounted' };
  const base = resolveIn(mount, self.path);
  if (!base || !fs.existsSync(base)) return { ok: false, reason: `cgroup v2: the server's cgroup is not visible` };
  const available = (readText(path.join(base, 'cgroup.controllers')) ?? '').trim().split(/\s+/);
  const lacking = ['memory', 'pids'].filter((c) => !available.includes(c));
  if (lacking.length > 0) {
    return {
      ok: false,
      reason: `cgroup v2 at ${base} does not offer the ${lacking.join(' and ')} controller${lacking.length > 1 ? 's' : ''}`,
    };
  }
  const wanted = ['memory', 'pids', ...(available.includes('cpu') ? ['cpu'] : [])];
  const enable = wanted.map((c) => `+${c}`).join(' ');
  const parent = path.join(base, SANDBOXES);
  try {
    if (!hasControllers(base, wanted)) {
      try {
        fs.writeFileSync(path.join(base, 'cgroup.subtree_control'), enable);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EBUSY') throw err;
        // "No internal processes": a cgroup holding processes cannot hand controllers to children. When this
        // server is alone in its cgroup (a service or container of its own), it moves into a leaf beside its
        // sandboxes; it never moves processes that are not its own.
        const others = readPids(base).filter((p) => p !== pid);
        if (others.length > 0) {
          return {
            ok: false,
            reason: `cgroup v2: the server shares its cgroup ${base} with other processes (${others.slice(0, 5).join(', ')}), so it cannot give sandboxes cgroups of their own; run it in a cgroup of its own (systemd: a service with Delegate=yes)`,
          };
        }
        const leaf = path.join(base, 'rclaude-server');
        mkdirIfMissing(leaf);
        fs.writeFileSync(path.join(leaf, 'cgroup.procs'), String(pid));
        fs.writeFileSync(path.join(base, 'cgroup.subtree_control'), enable);
      }
    }
    mkdirIfMissing(parent);
    if (!hasControllers(parent, wanted)) fs.writeFileSync(path.join(parent, 'cgroup.subtree_control'), enable);
  } catch (err) {
    return { ok: false, reason: `cgroup v2 at ${base} is not writable by the server (${errText(err)})` };
  }
  return {
    ok: true,
    cgroups: {
      version: 'v2',
      parents: [parent],
      missing: available.includes('cpu') ? [] : ['cpu'],
      create: (sandboxId, limits) => {
        const dir = path.join(parent, sandboxId);
        mkdirIfMissing(dir);
        const cg = openV2([dir]);
        try {
          if (limits.memoryBytes > 0) {
            write(dir, 'memory.max', String(limits.memoryBytes));
            // Swap would let a sandbox go on past its memory limit, slowly, instead of being stopped.
            if (fs.existsSync(path.join(dir, 'memory.swap.max'))) write(dir, 'memory.swap.max', '0');
          }
          if (limits.pids > 0) write(dir, 'pids.max', String(limits.pids));
          if (limits.cpus > 0 && available.includes('cpu')) {
            write(dir, 'cpu.max', `${Math.max(1000, Math.round(limits.cpus * CPU_PERIOD_US))} ${CPU_PERIOD_US}`);
          }
        } catch (err) {
          cg.remove();
          throw err;
        }
        return cg;
      },
      open: openV2,
      sweep: (olderThanMs) => sweepParents([parent], olderThanMs),
    },
  };
}

function openV2(dirs: string[]): SandboxCgroup {
  const dir = dirs[0] as string;
  return {
    dirs: [dir],
    procsFiles: () => [path.join(dir, 'cgroup.procs')],
    counters: () => ({
      oomKills: keyed(readText(path.join(dir, 'memory.events')), 'oom_kill'),
      pidsMax: keyed(readText(path.join(dir, 'pids.events')), 'max'),
    }),
    pids: () => readPids(dir),
    kill: () => {
      try {
        fs.writeFileSync(path.join(dir, 'cgroup.kill'), '1');
        return;
      } catch {
        // cgroup.kill is Linux 5.14+: signal each process instead.
      }
      killAll(readPids(dir));
    },
    remove: () => removeDirs([dir]),
  };
}

interface V1Hierarchy {
  controller: 'memory' | 'pids' | 'cpu';
  base: string;
}

function detectV1(mounts: Mount[], memberships: Membership[]): CgroupDetection {
  const found: V1Hierarchy[] = [];
  const problems: string[] = [];
  for (const controller of ['memory', 'pids', 'cpu'] as const) {
    const mount = mounts.find((m) => m.fstype === 'cgroup' && m.superOptions.includes(controller));
    const self = memberships.find((m) => m.controllers.includes(controller));
    const base = mount && self ? resolveIn(mount, self.path) : null;
    if (!base || !fs.existsSync(base)) {
      problems.push(`no cgroup v1 ${controller} hierarchy is mounted`);
      continue;
    }
    try {
      mkdirIfMissing(path.join(base, SANDBOXES));
      fs.accessSync(path.join(base, SANDBOXES), fs.constants.W_OK);
      found.push({ controller, base });
    } catch (err) {
      problems.push(`cgroup v1 ${controller} at ${base} is not writable by the server (${errText(err)})`);
    }
  }
  const has = (c: V1Hierarchy['controller']) => found.some((h) => h.controller === c);
  if (!has('memory') || !has('pids')) return { ok: false, reason: problems.join('; ') };
  const parents = [...new Set(found.map((h) => path.join(h.base, SANDBOXES)))];
  return {
    ok: true,
    cgroups: {
      version: 'v1',
      parents,
      missing: has('cpu') ? [] : ['cpu'],
      create: (sandboxId, limits) => {
        const dirs = parents.map((p) => path.join(p, sandboxId));
        for (const d of dirs) mkdirIfMissing(d);
        const cg = openV1(dirs);
        const dirOf = (c: V1Hierarchy['controller']) => {
          const h = found.find((x) => x.controller === c);
          return h ? path.join(h.base, SANDBOXES, sandboxId) : null;
        };
        try {
          const memory = dirOf('memory') as string;
          if (limits.memoryBytes > 0) {
            write(memory, 'memory.limit_in_bytes', String(limits.memoryBytes));
            // memory+swap at the same value: no swap beyond the limit (absent without swap accounting).
            if (fs.existsSync(path.join(memory, 'memory.memsw.limit_in_bytes'))) {
              write(memory, 'memory.memsw.limit_in_bytes', String(limits.memoryBytes));
            }
          }
          if (limits.pids > 0) write(dirOf('pids') as string, 'pids.max', String(limits.pids));
          const cpu = dirOf('cpu');
          if (cpu && limits.cpus > 0) {
            write(cpu, 'cpu.cfs_period_us', String(CPU_PERIOD_US));
            write(cpu, 'cpu.cfs_quota_us', String(Math.max(1000, Math.round(limits.cpus * CPU_PERIOD_US))));
          }
        } catch (err) {
          cg.remove();
          throw err;
        }
        return cg;
      },
      open: openV1,
      sweep: (olderThanMs) => sweepParents(parents, olderThanMs),
    },
  };
}

function openV1(dirs: string[]): SandboxCgroup {
  const find = (file: string) => dirs.find((d) => fs.existsSync(path.join(d, file)));
  const pidsNow = () => [...new Set(dirs.flatMap(readPids))];
  return {
    dirs,
    procsFiles: () => dirs.map((d) => path.join(d, 'cgroup.procs')),
    counters: () => {
      const memory = find('memory.oom_control');
      const pids = find('pids.events');
      return {
        // `oom_kill` in memory.oom_control is Linux 4.13+.
        oomKills: memory ? keyed(readText(path.join(memory, 'memory.oom_control')), 'oom_kill') : 0,
        pidsMax: pids ? keyed(readText(path.join(pids, 'pids.events')), 'max') : 0,
      };
    },
    pids: pidsNow,
    kill: () => killAll(pidsNow()),
    remove: () => removeDirs(dirs),
  };
}

function sweepParents(parents: string[], olderThanMs: number): number {
  let removed = 0;
  const cutoff = Date.now() - olderThanMs;
  for (const parent of parents) {
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(parent, { withFileTypes: true });
    } catch {
      continue;
    }
    for (const entry of entries) {
      if (!entry.isDirectory()) continue;
      const dir = path.join(parent, entry.name);
      try {
        if (fs.statSync(dir).mtimeMs > cutoff || readPids(dir).length > 0) continue;
        fs.rmdirSync(dir);
        removed++;
      } catch {
        // In use again, or gone: not ours to force.
      }
    }
  }
  return removed;
}

function hasControllers(dir: string, wanted: string[]): boolean {
  const enabled = (readText(path.join(dir, 'cgroup.subtree_control')) ?? '').trim().split(/\s+/);
  return wanted.every((c) => enabled.includes(c));
}

/** The number after `key` in a flat-keyed cgroup file ("oom_kill 3"), 0 when absent. */
export function keyed(text: string | null, key: string): number {
  if (!text) return 0;
  for (const line of text.split('\n')) {
    const [k, v] = line.trim().split(/\s+/);
    if (k === key) return Number(v) || 0;
  }
  return 0;
}

function readPids(dir: string): number[] {
  return (readText(path.join(dir, 'cgroup.procs')) ?? '')
    .split('\n')
    .map((l) => Number.parseInt(l, 10))
    .filter((p) => p > 0);
}

function killAll(pids: number[]): void {
  for (const p of pids) {
    try {
      process.kill(p, 'SIGKILL');
    } catch {
      // Gone already.
    }
  }
}

function removeDirs(dirs: string[]): boolean {
  let all = true;
  for (const d of dirs) {
    try {
      fs.rmdirSync(d);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') all = false;
    }
  }
  return all;
}

function write(dir: string, file: string, value: string): void {
  fs.writeFileSync(path.join(dir, file), value);
}

function mkdirIfMissing(dir: string): void {
  try {
    fs.mkdirSync(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
}

function readText(file: string): string | null {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return null;
  }
}

function errText(err: unknown): string {
  return (err as NodeJS.ErrnoException).code ?? (err as Error).message;
}
