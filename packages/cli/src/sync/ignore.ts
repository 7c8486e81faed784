import { spawn, spawnSync } from 'node:child_process';

/** Names sync leaves alone at any depth, whatever the rules (the agent skips the same). */
export const DEFAULT_IGNORED = ['.git', 'node_modules'] as const;

/**
 * Whether sync always leaves out a file or folder of this name: {@link DEFAULT_IGNORED} in any letter case (on a
 * case-insensitive laptop disk, as macOS has by default, a sandbox's `.GIT/hooks/x` would land in `.git`), and
 * sync's own temporary files.
 */
export function isAlwaysIgnoredName(name: string): boolean {
  return (DEFAULT_IGNORED as readonly string[]).includes(name.toLowerCase()) || name.startsWith(TEMP_PREFIX);
}
/** Prefix of sync's own temporary files, on both sides. */
export const TEMP_PREFIX = '.rclaude-sync-';

/** A glob (`*`, `?`, `**`) as a regular expression over a whole `/`-separated path. */
function globToRegExp(glob: string): RegExp {
  let re = '';
  for (let i = 0; i < glob.length; i += 1) {
    const c = glob[i] as string;
    if (c === '*' && glob[i + 1] === '*') {
      re += '.*';
      i += 1;
      if (glob[i + 1] === '/') i += 1;
    } else if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else re += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

/**
 * What sync leaves out: {@link DEFAULT_IGNORED} and sync's temporary files, `--exclude` patterns (a pattern
 * without `/` matches a name at any depth, e.g. `*.log`; one with `/` matches the path from the top, e.g.
 * `build/**`; a match on a folder leaves out all below it), and, when the folder is in a git work tree, what
 * its `.gitignore` files and excludes say (asked of `git check-ignore`).
 */
export class IgnoreRules {
  private readonly names: RegExp[] = [];
  private readonly paths: RegExp[] = [];

  private constructor(
    private readonly dir: string,
    private readonly git: boolean,
    excludes: readonly string[],
  ) {
    for (const raw of excludes) {
      const p = raw.replace(/^\/+|\/+$/g, '');
      if (p === '') continue;
      if (p.includes('/')) this.paths.push(globToRegExp(p));
      else this.names.push(globToRegExp(p));
    }
  }

  static create(dir: string, excludes: readonly string[]): IgnoreRules {
    const r = spawnSync('git', ['rev-parse', '--is-inside-work-tree'], { cwd: dir, encoding: 'utf8' });
    return new IgnoreRules(dir, r.status === 0 && r.stdout.trim() === 'true', excludes);
  }

  /** Whether git's rules are used. */
  get usesGit(): boolean {
    return this.git;
  }

  /** True when the rules that need no git leave `rel` out. */
  private staticIgnored(rel: string): boolean {
    const names = rel.split('/');
    for (let i = 0; i < names.length; i += 1) {
      const name = names[i] as string;
      if (isAlwaysIgnoredName(name)) return true;
      if (this.names.some((re) => re.test(name))) return true;
      const prefix = names.slice(0, i + 1).join('/');
      if (this.paths.some((re) => re.test(prefix))) return true;
    }
    return false;
  }

  /** The paths of `rels` (relative to the folder) that sync leaves out. */
  async ignored(rels: readonly string[]): Promise<Set<string>> {
    const out = new Set<string>();
    const ask: string[] = [];
    for (const rel of rels) {
      if (this.staticIgnored(rel)) out.add(rel);
      else ask.push(rel);
    }
    if (!this.git || ask.length === 0) return out;
    for (const rel of await this.checkIgnore(ask)) out.add(rel);
    return out;
  }

  private checkIgnore(rels: readonly string[]): Promise<string[]> {
    return new Promise((resolve, reject) => {
      const child = spawn('git', ['check-ignore', '--stdin', '-z'], {
        cwd: this.dir,
        stdio: ['pipe', 'pipe', 'pipe'],
      });
      const chunks: Buffer[] = [];
      let err = '';
      child.stdout.on('data', (c: Buffer) => chunks.push(c));
      child.stderr.on('data', (c: Buffer) => {
        err += c.toString();
      });
      child.on('error', reject);
      child.on('close', (code) => {
        // 0: some are ignored, 1: none is.
        if (code !== 0 && code !== 1) {
          reject(new Error(`git check-ignore failed: ${err.trim().slice(0, 300)}`));
          return;
        }
        resolve(
          Buffer.concat(chunks)
            .toString('utf8')
            .split('\0')
            .filter((s) => s !== ''),
        );
      });
      child.stdin.on('error', () => {});
      child.stdin.end(`${rels.join('\0')}\0`);
    });
  }
}
