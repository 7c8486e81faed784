import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { planLaunch, quote } from './launch-command.js';

const user = { name: 'rclaude-sandbox', uid: 999, gid: 995 };

describe('planLaunch', () => {
  it('as another user: stages hidden directories in a private mount namespace, joins cgroups, then drops to the user', () => {
    const plan = planLaunch({
      user,
      cgroupProcs: ['/sys/fs/cgroup/memory/rclaude-sandboxes/a/cgroup.procs'],
      rlimits: null,
      stage: ['/root/.local/share/rclaude/sandboxes/a', '/root/app/node_modules'],
    });
    expect(plan.at('/root/.local/share/rclaude/sandboxes/a')).toBe('/mnt/0');
    expect(plan.at('/root/app/node_modules')).toBe('/mnt/1');
    expect(plan.at('/usr')).toBe('/usr');
    const argv = plan.wrap(['bwrap', '--bind', '/mnt/0/workspace', '/workspace', 'node', 'main.js']);
    expect(argv.slice(0, 7)).toEqual(['unshare', '--mount', '--propagation', 'private', '--', 'sh', '-c']);
    const script = argv[7] as string;
    // The cgroup join comes before everything, the user switch last, right before the sandbox's own command.
    expect(script.indexOf('echo $$ > /sys/fs/cgroup/memory/rclaude-sandboxes/a/cgroup.procs')).toBeGreaterThan(0);
    expect(script).toContain('mount --bind /root/.local/share/rclaude/sandboxes/a /mnt/0');
    expect(script).toMatch(
      /exec setpriv --reuid=999 --regid=995 --clear-groups --inh-caps=-all --bounding-set=-all -- bwrap --bind \/mnt\/0\/workspace \/workspace node main.js$/,
    );
  });

  it('as the server user: only what is needed, and the plain command when nothing is', () => {
    expect(planLaunch({ user: null, cgroupProcs: [], rlimits: null, stage: ['/x'] }).wrap(['bwrap', 'a'])).toEqual([
      'bwrap',
      'a',
    ]);
    const plan = planLaunch({ user: null, cgroupProcs: [], rlimits: { nproc: 600, dataBytes: 1024 }, stage: ['/x'] });
    expect(plan.at('/x')).toBe('/x');
    expect(plan.wrap(['bwrap'])).toEqual(['prlimit', '--nproc=600', '--data=1024', '--', 'bwrap']);
    expect(planLaunch({ user: null, cgroupProcs: ['/c/cgroup.procs'], rlimits: null, stage: [] }).wrap(['x'])).toEqual([
      'sh',
      '-c',
      'set -e; echo $$ > /c/cgroup.procs; exec x',
    ]);
  });

  it('quotes words so sh reads them back unchanged', () => {
    for (const word of ["it's", 'a b', '$HOME', '`x`', 'plain', '-', '"q"', 'a\\b']) {
      const echoed = spawnSync('sh', ['-c', `printf %s ${quote(word)}`], { encoding: 'utf8' }).stdout;
      expect(echoed).toBe(word);
    }
  });
});
