#!/usr/bin/env node
/**
 * The E2B template for rclaude sandboxes: the published sandbox image (docker/sandbox.Dockerfile) with
 * `rclaude` as the default user and /workspace as the working directory. The E2B provider starts the agent
 * itself (`commands.run`, so it sees the per-sandbox env); the template has no start command.
 *
 * Build (from the repository root, after pushing the sandbox image):
 *   E2B_API_KEY=e2b_... node docker/e2b-template.mjs <registry>/rclaude-sandbox:<version> [template-name]
 * Private registry: also set REGISTRY_USERNAME and REGISTRY_PASSWORD.
 */
import process from 'node:process';
import { pathToFileURL } from 'node:url';
import { defaultBuildLogger, Template } from 'e2b';

export const TEMPLATE_NAME = 'rclaude-sandbox';
/** Size of every sandbox made from the template; the E2B provider's `size` and docs/deploy-e2b.md use it. */
export const CPU_COUNT = 2;
export const MEMORY_MB = 4096;

/** Refuses images without an explicit version: a template must be reproducible. */
export function checkImage(image) {
  const tag = image.includes('@sha256:') ? 'digest' : image.slice(image.lastIndexOf('/') + 1).split(':')[1];
  if (!tag || tag === 'latest') throw new Error(`pin the sandbox image to a version or digest, not "${image}"`);
  return image;
}

export function sandboxTemplate(image, credentials) {
  return Template().fromImage(checkImage(image), credentials).setUser('rclaude').setWorkdir('/workspace');
}

async function main() {
  const [image, name = TEMPLATE_NAME] = process.argv.slice(2);
  if (!image) {
    process.stderr.write('usage: node docker/e2b-template.mjs <registry>/rclaude-sandbox:<version> [template-name]\n');
    process.exit(2);
  }
  const { REGISTRY_USERNAME: username, REGISTRY_PASSWORD: password } = process.env;
  const credentials = username && password ? { username, password } : undefined;
  const info = await Template.build(sandboxTemplate(image, credentials), name, {
    cpuCount: CPU_COUNT,
    memoryMB: MEMORY_MB,
    onBuildLogs: defaultBuildLogger(),
  });
  process.stdout.write(`built E2B template ${name}: ${JSON.stringify(info)}\nset E2B_TEMPLATE=${name}\n`);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await main();
