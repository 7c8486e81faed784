import fs from 'node:fs/promises';
import path from 'node:path';

/**
 * What a checkpoint leaves out of the workspace: dependency and build caches that their project's own files
 * rebuild (`npm ci`, `uv sync`, `cargo build`, ...), which are large, many and worth nothing to keep. Only
 * folders that are unambiguously such a cache: a name that is also used for hand-made content (`build`,
 * `dist`, `vendor`, `target` outside a Cargo project) is kept. `.git` is always kept. The lockfile and
 * manifest beside a left-out folder are ordinary files and kept, so it can be rebuilt.
 *
 * - `node_modules` (npm, yarn, pnpm)
 * - `.venv` / `venv` holding a `pyvenv.cfg` (a Python virtual environment), `__pycache__`, `.pytest_cache`,
 *   `.mypy_cache`, `.ruff_cache`, `.tox`, `.nox`
 * - `.next`, `.nuxt`, `.svelte-kit`, `.turbo`, `.parcel-cache` (JavaScript framework build output and caches)
 * - `.gradle` (Gradle's per-project cache)
 * - `target` beside a `Cargo.toml` (Rust build output)
 */
export const ALWAYS_EXCLUDED = new Set([
  'node_modules',
  '__pycache__',
  '.pytest_cache',
  '.mypy_cache',
  '.ruff_cache',
  '.tox',
  '.nox',
  '.next',
  '.nuxt',
  '.svelte-kit',
  '.turbo',
  '.parcel-cache',
  '.gradle',
]);

/**
 * Whether the workspace folder `name` at `abs` (whose parent lists `siblings`) is a rebuildable cache to leave
 * out, by {@link ALWAYS_EXCLUDED} and the rules that look at its contents or neighbours.
 */
export async function isExcludedDir(name: string, abs: string, siblings: ReadonlySet<string>): Promise<boolean> {
  if (ALWAYS_EXCLUDED.has(name)) return true;
  if (name === 'target') return siblings.has('Cargo.toml');
  if (name === '.venv' || name === 'venv') {
    try {
      return (await fs.lstat(path.join(abs, 'pyvenv.cfg'))).isFile();
    } catch {
      return false;
    }
  }
  return false;
}
