/**
 * services/ is the core the edges call: it must not depend on them. The HTTP routes (http/) and the Socket.io
 * gateways (realtime/) import services, never the reverse; what services need from an edge is an interface
 * defined here (AuthContext, TaskPublisher). Test files may wire edges and are not scanned.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const servicesDir = path.dirname(fileURLToPath(import.meta.url));

/** Module specifiers a source imports or re-exports, static or dynamic. */
function importedSpecifiers(source: string): string[] {
  const found: string[] = [];
  for (const m of source.matchAll(/(?:\bfrom\s*|\bimport\s*\(?\s*)['"]([^'"]+)['"]/g)) {
    if (m[1]) found.push(m[1]);
  }
  return found;
}

/** Whether a specifier written in services/ reaches into http/ or realtime/. */
function reachesEdge(specifier: string): boolean {
  return specifier.startsWith('.') && /(?:^|\/)(?:http|realtime)\//.test(specifier);
}

describe('services/ layering', () => {
  it('finds import specifiers of every form', () => {
    const source = [
      "import type { A } from '../http/context.js';",
      "import { rooms } from '../realtime/rooms.js';",
      "export { b } from './b.js';",
      "const c = await import('../realtime/c.js');",
      "import './side-effect.js';",
    ].join('\n');
    expect(importedSpecifiers(source)).toEqual([
      '../http/context.js',
      '../realtime/rooms.js',
      './b.js',
      '../realtime/c.js',
      './side-effect.js',
    ]);
    expect(importedSpecifiers(source).filter(reachesEdge)).toEqual([
      '../http/context.js',
      '../realtime/rooms.js',
      '../realtime/c.js',
    ]);
    expect(reachesEdge('../stores/types.js')).toBe(false);
    expect(reachesEdge('./session-hub.js')).toBe(false);
  });

  it('no source file in services/ imports from http/ or realtime/', () => {
    const files = fs
      .readdirSync(servicesDir, { recursive: true, encoding: 'utf8' })
      .filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts'));
    expect(files).toContain('task-service.ts');
    const offending = files.flatMap((f) =>
      importedSpecifiers(fs.readFileSync(path.join(servicesDir, f), 'utf8'))
        .filter(reachesEdge)
        .map((spec) => `${f} imports ${spec}`),
    );
    expect(offending).toEqual([]);
  });
});
