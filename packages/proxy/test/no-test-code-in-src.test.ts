/**
 * Test code stays out of what ships: every package's `src/` is compiled into `dist/` (or bundled) and copied
 * into images, so no production file there may import a test runner or the testkit, reach into a `test/`
 * folder, or be test scaffolding by its name. Test helpers live in `<package>/test/` or `packages/testkit`.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

/** Packages whose `src/` ships: every workspace package and the CDK app. */
const sourceRoots = [
  ...fs
    .readdirSync(path.join(repoRoot, 'packages'))
    .map((name) => path.join('packages', name, 'src'))
    .filter((dir) => fs.existsSync(path.join(repoRoot, dir))),
  'infra/src',
];

/**
 * Folders still in a `src/` that their owners move out (web's vitest setup, fakes and fixtures; Vite bundles
 * only what index.html reaches, so they are not in web's dist/ today). Each must still exist, so the list
 * shrinks as they go.
 */
const pendingMoves = ['packages/web/src/test/'];

const isTestFile = (file: string) => /\.(test|spec)\.tsx?$/.test(file);
const testImport =
  /(?:from\s+|import\s*\(\s*|require\s*\(\s*)['"](vitest(?:\/[^'"]*)?|@vitest\/[^'"]+|@rclaude\/testkit(?:\/[^'"]*)?|@testing-library\/[^'"]+|(?:\.{1,2}\/)+(?:[^'"]*\/)?test\/[^'"]*)['"]/g;
const scaffoldingName = /(^|\/)(test|tests|__tests__)\/|(^|\/)test-[^/]*$|harness[^/]*$/;

function productionFiles(dir: string): string[] {
  const out: string[] = [];
  for (const entry of fs.readdirSync(path.join(repoRoot, dir), { withFileTypes: true })) {
    const rel = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...productionFiles(rel));
    else if (/\.(ts|tsx|mts|cts|js|mjs)$/.test(entry.name) && !isTestFile(entry.name)) out.push(rel);
  }
  return out;
}

/** Every finding as `path: reason`. */
function findTestCodeInSrc(files: { path: string; text: string }[]): string[] {
  const found: string[] = [];
  for (const file of files) {
    const inSrc = file.path.slice(file.path.indexOf('/src/') + 1);
    if (scaffoldingName.test(inSrc)) found.push(`${file.path}: test scaffolding by its name`);
    for (const match of file.text.matchAll(testImport)) found.push(`${file.path}: imports ${match[1]}`);
  }
  return found;
}

describe('no test code in any package src/', () => {
  it('finds no production file that imports vitest or the testkit, reaches into test/, or is named as a helper', () => {
    const files = sourceRoots
      .flatMap(productionFiles)
      .filter((file) => !pendingMoves.some((dir) => file.startsWith(dir)))
      .map((file) => ({ path: file, text: fs.readFileSync(path.join(repoRoot, file), 'utf8') }));
    expect(files.length).toBeGreaterThan(100);
    expect(findTestCodeInSrc(files)).toEqual([]);
  });

  it('still has each pending move in place (remove the entry once it is moved)', () => {
    for (const dir of pendingMoves) expect(fs.existsSync(path.join(repoRoot, dir)), dir).toBe(true);
  });

  it('would catch each kind of leak', () => {
    const leaks = [
      { path: 'packages/proxy/src/a.ts', text: "import { it } from 'vitest';" },
      { path: 'packages/proxy/src/b.ts', text: "import { until } from '@rclaude/testkit';" },
      { path: 'packages/proxy/src/c.ts', text: "export * from '../../test/test-stack.js';" },
      { path: 'packages/proxy/src/d.ts', text: "const v = await import('vitest/config');" },
      { path: 'packages/proxy/src/realtime/test-stack.ts', text: '' },
      { path: 'packages/proxy/src/auth/test-harness.ts', text: '' },
      { path: 'packages/web/src/test/setup.ts', text: '' },
    ];
    expect(findTestCodeInSrc(leaks)).toHaveLength(leaks.length);
    const clean = [
      { path: 'packages/proxy/src/compose-server.ts', text: "import { createApp } from './app.js';" },
      { path: 'packages/cli/src/commands/latest.ts', text: "import { x } from './contest/y.js';" },
    ];
    expect(findTestCodeInSrc(clean)).toEqual([]);
  });
});
