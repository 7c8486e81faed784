import type { SandboxUser } from './sandbox-user.js';

/** Per-process limits set with `prlimit` when no cgroup holds a sandbox (see adr/0010-sandbox-limits.md). */
export interface Rlimits {
  /** RLIMIT_NPROC: processes and threads of the sandbox's host uid, all of them, not this sandbox's alone. */
  nproc?: number;
  /** RLIMIT_DATA: each process's data (heap and private memory), bytes. */
  dataBytes?: number;
}

export interface LaunchPlanOptions {
  /** The host user to run as (root server), or null to run as the server's user. */
  user: SandboxUser | null;
  /** `cgroup.procs` files the sandbox's first process joins before anything else runs. */
  cgroupProcs: string[];
  /** Per-process limits, or null. */
  rlimits: Rlimits | null;
  /**
   * Host directories `user` must reach that may lie under directories it cannot enter (the server's data dir
   * is 0700): each is bound at `<stageRoot>/<n>` in a mount namespace of the sandbox's own, whose only effect
   * is that path. Ignored when `user` is null.
   */
  stage: string[];
  /** An existing directory the staging tmpfs covers, in that namespace only. Default `/mnt`. */
  stageRoot?: string;
}

/** How to start a sandbox: where staged directories appear, and the full command line around the sandbox's own. */
export interface LaunchPlan {
  /** The path under which `user` reaches host directory `dir` (itself when it was not staged). */
  at(dir: string): string;
  /** The command (argv[0] first) that sets up the process and then becomes `argv`. */
  wrap(argv: string[]): string[];
}

/**
 * Plans the chain a sandbox starts through, each step `exec`ing the next so the sandbox keeps the first pid:
 * as root, `unshare --mount` (the staging namespace), a shell that joins the cgroups and binds the staged
 * directories, `prlimit` when there are rlimits, and `setpriv` to the sandbox user; as another user, only the
 * cgroup join and `prlimit`, as needed. Joining the cgroups comes first, so every process of the sandbox,
 * bubblewrap included, is counted and limited.
 */
export function planLaunch(opts: LaunchPlanOptions): LaunchPlan {
  const stageRoot = opts.stageRoot ?? '/mnt';
  const staged = new Map<string, string>();
  if (opts.user) for (const [i, dir] of opts.stage.entries()) staged.set(dir, `${stageRoot}/${i}`);
  const at = (dir: string) => staged.get(dir) ?? dir;

  const wrap = (argv: string[]): string[] => {
    let tail = [...argv];
    if (opts.user) {
      tail = [
        'setpriv',
        `--reuid=${opts.user.uid}`,
        `--regid=${opts.user.gid}`,
        '--clear-groups',
        '--inh-caps=-all',
        '--bounding-set=-all',
        '--',
        ...tail,
      ];
    }
    if (opts.rlimits) tail = [...prlimitArgs(opts.rlimits), ...tail];
    const steps: string[] = opts.cgroupProcs.map((file) => `echo $$ > ${quote(file)}`);
    if (opts.user && staged.size > 0) {
      steps.push(`mount -t tmpfs -o mode=0755,size=64k,nosuid,nodev rclaude-stage ${quote(stageRoot)}`);
      for (const [dir, point] of staged)
        steps.push(`mkdir ${quote(point)}`, `mount --bind ${quote(dir)} ${quote(point)}`);
    }
    const command =
      steps.length > 0 ? ['sh', '-c', `set -e; ${steps.join('; ')}; exec ${tail.map(quote).join(' ')}`] : tail;
    return opts.user && staged.size > 0
      ? ['unshare', '--mount', '--propagation', 'private', '--', ...command]
      : command;
  };
  return { at, wrap };
}

function prlimitArgs(r: Rlimits): string[] {
  const args = ['prlimit'];
  if (r.nproc !== undefined) args.push(`--nproc=${r.nproc}`);
  if (r.dataBytes !== undefined) args.push(`--data=${r.dataBytes}`);
  return [...args, '--'];
}

/** Quotes a word for sh. */
export function quote(word: string): string {
  return /^[A-Za-z0-9_./:=@%+,-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}
