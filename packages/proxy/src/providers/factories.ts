import type { ProviderName } from '@rclaude/protocol';
import type { Logger } from 'pino';
import type { Config } from '../config.js';
import type { DockerProviderOptions } from './docker.js';
import type { SandboxLimits } from './limits.js';
import type { ProviderFactory } from './registry.js';
import { e2bNotConfigured, ecsNotConfigured } from './settings.js';

/** Docker sandboxes' limits: RCLAUDE_DOCKER_* where set, else the shared RCLAUDE_SANDBOX_* ones. */
export function dockerLimits(config: Config): Pick<DockerProviderOptions, 'cpus' | 'memoryMiB' | 'maxProcesses'> {
  return {
    cpus: config.RCLAUDE_DOCKER_CPUS ?? config.RCLAUDE_SANDBOX_CPUS,
    memoryMiB: config.RCLAUDE_DOCKER_MEMORY_MIB ?? Math.floor(config.RCLAUDE_SANDBOX_MEMORY / (1024 * 1024)),
    maxProcesses: config.RCLAUDE_DOCKER_MAX_PROCESSES ?? config.RCLAUDE_SANDBOX_PIDS,
  };
}

/** The per-sandbox limits configured (RCLAUDE_SANDBOX_MEMORY, _CPUS, _PIDS, _DISK). */
export function sandboxLimits(config: Config): SandboxLimits {
  return {
    memoryBytes: config.RCLAUDE_SANDBOX_MEMORY,
    cpus: config.RCLAUDE_SANDBOX_CPUS,
    pids: config.RCLAUDE_SANDBOX_PIDS,
    diskBytes: config.RCLAUDE_SANDBOX_DISK,
  };
}

/**
 * Factories of the cloud providers, configured from the environment, for `ProviderRegistry.prepare()`. A
 * provider whose settings are missing fails with PROVIDER_UNAVAILABLE naming them, before its SDK is loaded:
 * a server that does not use ECS or E2B never loads the AWS or E2B SDK, and one without a Docker engine never
 * loads dockerode.
 */
export function createProviderFactories(
  config: Config,
  log: Logger,
): Record<Exclude<ProviderName, 'local'>, ProviderFactory> {
  return {
    ecs: async () => {
      const options = {
        cluster: config.RCLAUDE_ECS_CLUSTER ?? '',
        taskDefinition: config.RCLAUDE_ECS_TASK_DEFINITION ?? '',
        containerName: config.RCLAUDE_ECS_CONTAINER,
        subnets: config.RCLAUDE_ECS_SUBNETS,
        securityGroups: config.RCLAUDE_ECS_SECURITY_GROUPS,
        assignPublicIp: config.RCLAUDE_ECS_ASSIGN_PUBLIC_IP,
        capacity: config.RCLAUDE_ECS_CAPACITY,
        installation: config.RCLAUDE_INSTALLATION,
        ...(config.AWS_REGION ? { region: config.AWS_REGION } : {}),
        ...(config.AWS_ENDPOINT_URL_ECS ? { endpoint: config.AWS_ENDPOINT_URL_ECS } : {}),
        onProgress: (p: unknown) => log.debug({ progress: p }, 'ecs task progress'),
      };
      const missing = ecsNotConfigured(options);
      if (missing) throw missing;
      return (await import('./ecs.js')).createEcsProvider(options);
    },
    e2b: async () => {
      const missing = e2bNotConfigured(config.E2B_API_KEY ?? '');
      if (missing) throw missing;
      return (await import('./e2b.js')).createE2bProvider({
        apiKey: config.E2B_API_KEY ?? '',
        template: config.E2B_TEMPLATE,
        installation: config.RCLAUDE_INSTALLATION,
        ...(config.E2B_API_URL ? { apiUrl: config.E2B_API_URL } : {}),
        ...(config.E2B_SANDBOX_URL ? { sandboxUrl: config.E2B_SANDBOX_URL } : {}),
      });
    },
    docker: async () =>
      (await import('./docker.js')).createDockerProvider({
        image: config.RCLAUDE_DOCKER_IMAGE,
        agentSocket: config.RCLAUDE_DOCKER_AGENT_SOCKET,
        ...dockerLimits(config),
        tmpMiB: config.RCLAUDE_DOCKER_TMP_MIB,
        installation: config.RCLAUDE_INSTALLATION,
      }),
  };
}
