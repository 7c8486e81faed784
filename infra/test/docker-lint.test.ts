/**
 * Static checks of docker/ (no Docker engine here, and hadolint is not available): a small Dockerfile
 * parser plus the YAML of compose.yml, checked for the habits we rely on.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { SANDBOX_CPU, SANDBOX_MEMORY_MIB } from '../src/settings.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const read = (file: string) => readFileSync(path.join(root, file), 'utf8');

interface Instruction {
  keyword: string;
  args: string;
  line: number;
}

interface Stage {
  from: string;
  name: string | null;
  instructions: Instruction[];
}

/** Parses a Dockerfile into instructions (continuations joined, comments dropped) and stages. */
function parseDockerfile(text: string): { args: Map<string, string>; stages: Stage[] } {
  const instructions: Instruction[] = [];
  let pending = '';
  let startLine = 0;
  text.split('\n').forEach((raw, index) => {
    const line = raw.trimEnd();
    if (pending === '' && (line.trim() === '' || line.trim().startsWith('#'))) return;
    if (pending !== '' && line.trim().startsWith('#')) return;
    if (pending === '') startLine = index + 1;
    if (line.endsWith('\\')) {
      pending += `${line.slice(0, -1)} `;
      return;
    }
    const full = (pending + line).trim();
    pending = '';
    const match = full.match(/^(\w+)\s+([\s\S]*)$/);
    if (!match) throw new Error(`line ${startLine}: cannot parse "${full}"`);
    instructions.push({ keyword: (match[1] ?? '').toUpperCase(), args: (match[2] ?? '').trim(), line: startLine });
  });
  if (pending !== '') throw new Error('dangling line continuation at end of file');
  const args = new Map<string, string>();
  const stages: Stage[] = [];
  for (const ins of instructions) {
    if (ins.keyword === 'ARG' && stages.length === 0) {
      const [name, value = ''] = ins.args.split('=');
      args.set(name ?? '', value);
    } else if (ins.keyword === 'FROM') {
      const parts = ins.args.split(/\s+/).filter((p) => !p.startsWith('--'));
      const from = (parts[0] ?? '').replace(/\$\{(\w+)\}/g, (_, n: string) => args.get(n) ?? '');
      stages.push({ from, name: parts[2] ?? null, instructions: [] });
    } else {
      const stage = stages.at(-1);
      if (!stage) throw new Error(`line ${ins.line}: ${ins.keyword} before FROM`);
      stage.instructions.push(ins);
    }
  }
  return { args, stages };
}

function isPinnedImage(image: string): boolean {
  if (image.includes('@sha256:')) return true;
  const tag = image.slice(image.lastIndexOf('/') + 1).split(':')[1];
  // A version with at least major.minor: "22" or "lts" would float.
  return tag !== undefined && tag !== 'latest' && /^\d+\.\d+/.test(tag);
}

function checkDockerfile(file: string) {
  const parsed = parseDockerfile(read(file));
  const stageNames = new Set(parsed.stages.map((s) => s.name).filter((n): n is string => n !== null));
  const final = parsed.stages.at(-1);
  if (!final) throw new Error(`${file}: no FROM`);
  const all = parsed.stages.flatMap((s) => s.instructions);
  const runs = all.filter((i) => i.keyword === 'RUN').map((i) => i.args);
  return { parsed, stageNames, final, all, runs };
}

function finalUser(stage: Stage): string | undefined {
  return stage.instructions.filter((i) => i.keyword === 'USER').at(-1)?.args;
}

function env(stage: Stage): Record<string, string> {
  const out: Record<string, string> = {};
  for (const i of stage.instructions.filter((x) => x.keyword === 'ENV')) {
    for (const m of i.args.matchAll(/(\w+)=("[^"]*"|\S+)/g)) out[m[1] ?? ''] = (m[2] ?? '').replace(/^"|"$/g, '');
  }
  return out;
}

describe.each(['docker/sandbox.Dockerfile', 'docker/proxy.Dockerfile'])('%s', (file) => {
  const { parsed, stageNames, final, runs } = checkDockerfile(file);

  it('bases every stage on a pinned image (no latest, no floating major) or an earlier stage', () => {
    for (const stage of parsed.stages) {
      expect(stageNames.has(stage.from) || isPinnedImage(stage.from), `FROM ${stage.from}`).toBe(true);
    }
    expect(parsed.stages.length).toBeGreaterThanOrEqual(2);
  });

  it('runs as a non-root user, numeric uid 1000', () => {
    const user = finalUser(final);
    expect(user).toBeDefined();
    expect(user).not.toMatch(/^(root|0)(:|$)/);
    expect(user).toBe('1000:1000');
  });

  it('installs from the lockfile and keeps apt layers lean', () => {
    expect(runs.some((r) => /\bnpm ci\b/.test(r))).toBe(true);
    expect(runs.some((r) => /\bnpm (install|i)\b/.test(r))).toBe(false);
    for (const run of runs.filter((r) => r.includes('apt-get install'))) {
      expect(run).toContain('--no-install-recommends');
      expect(run).toContain('rm -rf /var/lib/apt/lists/*');
    }
    expect(runs.some((r) => /curl[^|]*\|\s*(sh|bash)/.test(r))).toBe(false);
  });

  it('has an entrypoint with an init that forwards signals', () => {
    const entrypoint = final.instructions.find((i) => i.keyword === 'ENTRYPOINT')?.args ?? '';
    expect(JSON.parse(entrypoint)[0]).toBe('/usr/bin/tini');
  });
});

describe('sandbox image', () => {
  const { parsed, final, runs } = checkDockerfile('docker/sandbox.Dockerfile');

  it('starts the agent, in /workspace, with HOME /home/rclaude', () => {
    expect(JSON.parse(final.instructions.find((i) => i.keyword === 'ENTRYPOINT')?.args ?? '[]')).toContain(
      '/usr/local/bin/rclaude-agent',
    );
    expect(final.instructions.filter((i) => i.keyword === 'WORKDIR').at(-1)?.args).toBe('/workspace');
    expect(env(final).HOME).toBe('/home/rclaude');
    expect(env(final).RCLAUDE_WORKSPACE).toBe('/workspace');
    expect(runs.join('\n')).toMatch(/usermod --login rclaude --home \/home\/rclaude/);
  });

  it('has Node 22, git and ripgrep', () => {
    expect(parsed.args.get('NODE_IMAGE')).toMatch(/^node:22\.\d+\.\d+-bookworm-slim$/);
    const install = runs.find((r) => r.includes('ripgrep')) ?? '';
    expect(install).toMatch(/\bgit\b/);
  });

  it('pins Claude Code to the version the agent depends on and in the lockfile', () => {
    const arg = final.instructions.find((i) => i.keyword === 'ARG' && i.args.startsWith('CLAUDE_CODE_VERSION='))?.args;
    const pinned = arg?.split('=')[1];
    const agent = JSON.parse(read('packages/agent/package.json')) as { dependencies: Record<string, string> };
    const lock = JSON.parse(read('package-lock.json')) as { packages: Record<string, { version?: string }> };
    expect(pinned).toBe('2.1.329');
    expect(agent.dependencies['@anthropic-ai/claude-code']).toBe(pinned);
    expect(lock.packages['node_modules/@anthropic-ai/claude-code']?.version).toBe(pinned);
  });
});

describe('proxy image', () => {
  const { final, runs } = checkDockerfile('docker/proxy.Dockerfile');

  it('builds, prunes to production dependencies, and runs `rclaude server` with a health check', () => {
    expect(runs.some((r) => r.includes('turbo run build'))).toBe(true);
    expect(runs.some((r) => r.includes('npm ci --omit=dev'))).toBe(true);
    expect(JSON.parse(final.instructions.find((i) => i.keyword === 'CMD')?.args ?? '[]')).toEqual([
      'rclaude',
      'server',
    ]);
    expect(final.instructions.some((i) => i.keyword === 'HEALTHCHECK' && i.args.includes('/healthz'))).toBe(true);
    expect(env(final).HOST).toBe('0.0.0.0');
  });
});

describe('compose.yml', () => {
  const compose = parseYaml(read('docker/compose.yml')) as {
    services: Record<
      string,
      {
        image?: string;
        build?: unknown;
        healthcheck?: { test: unknown };
        depends_on?: Record<string, { condition: string }>;
        ports?: string[];
        environment?: Record<string, string>;
      }
    >;
  };

  it('has postgres, redis and the proxy, each with a health check', () => {
    expect(Object.keys(compose.services).sort()).toEqual(['postgres', 'proxy', 'redis']);
    for (const [name, service] of Object.entries(compose.services)) {
      expect(service.healthcheck?.test, name).toBeDefined();
    }
  });

  it('pins its images', () => {
    for (const [name, service] of Object.entries(compose.services)) {
      expect(isPinnedImage(service.image ?? ''), `${name}: ${service.image}`).toBe(true);
    }
  });

  it('starts the proxy once its stores are healthy, on loopback only, with a required secret key', () => {
    const proxy = compose.services.proxy;
    expect(proxy?.depends_on).toEqual({
      postgres: { condition: 'service_healthy' },
      redis: { condition: 'service_healthy' },
    });
    expect(proxy?.ports?.every((p) => p.startsWith('127.0.0.1:'))).toBe(true);
    expect(proxy?.environment?.RCLAUDE_SECRET_KEY).toMatch(/^\$\{RCLAUDE_SECRET_KEY:\?/);
    expect(proxy?.environment?.DATABASE_URL).toContain('@postgres:5432/');
    expect(proxy?.environment?.REDIS_URL).toBe('redis://redis:6379');
  });
});

describe('.dockerignore', () => {
  it('keeps dependencies, build output, git and env files out of the context', () => {
    const lines = read('.dockerignore')
      .split('\n')
      .map((l) => l.trim());
    for (const entry of ['**/node_modules', '**/dist', '.git', '.env']) expect(lines).toContain(entry);
  });
});

describe('E2B template', () => {
  it('builds from the pinned sandbox image as rclaude in /workspace, sized like the ECS sandbox', async () => {
    const template = (await import(pathToFileURL(path.join(root, 'docker', 'e2b-template.mjs')).href)) as {
      sandboxTemplate(image: string): unknown;
      checkImage(image: string): string;
      CPU_COUNT: number;
      MEMORY_MB: number;
    };
    const { Template } = (await import('e2b')) as {
      Template: { toJSON(t: unknown, hashes: boolean): Promise<string> };
    };
    const json = JSON.parse(
      await Template.toJSON(template.sandboxTemplate('ghcr.io/acme/rclaude-sandbox:0.1.0'), false),
    ) as {
      fromImage: string;
      steps: { type: string; args: string[] }[];
    };
    expect(json.fromImage).toBe('ghcr.io/acme/rclaude-sandbox:0.1.0');
    expect(json.steps).toEqual([
      expect.objectContaining({ type: 'USER', args: ['rclaude'] }),
      expect.objectContaining({ type: 'WORKDIR', args: ['/workspace'] }),
    ]);
    expect(() => template.checkImage('ghcr.io/acme/rclaude-sandbox:latest')).toThrow(/pin/);
    expect(() => template.checkImage('ghcr.io/acme/rclaude-sandbox')).toThrow(/pin/);
    expect(template.CPU_COUNT * 1024).toBe(SANDBOX_CPU);
    expect(template.MEMORY_MB).toBe(SANDBOX_MEMORY_MIB);
  });
});
