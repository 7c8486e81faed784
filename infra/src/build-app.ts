import type { App } from 'aws-cdk-lib';
import { readSettings } from './settings.js';
import { ImagesStack } from './stacks/images-stack.js';
import { RclaudeStack } from './stacks/rclaude-stack.js';

/** Adds rclaude's stacks to `app`, configured from its context. */
export function buildApp(app: App): { images: ImagesStack; main: RclaudeStack } {
  const settings = readSettings((key) => app.node.tryGetContext(key));
  // No `env`: the templates are environment-agnostic, so synth runs offline and deploys to any account/region.
  const images = new ImagesStack(app, 'RclaudeImages', {
    description: 'rclaude: ECR repositories for the proxy and sandbox images',
    proxyRepository: settings.proxyRepository,
    sandboxRepository: settings.sandboxRepository,
  });
  const main = new RclaudeStack(app, 'Rclaude', {
    description: 'rclaude: proxy service, sandbox task definition, Postgres, Redis, checkpoint bucket, network',
    settings,
  });
  return { images, main };
}
