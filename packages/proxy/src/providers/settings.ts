import { AppError } from '@rclaude/protocol';

/**
 * Whether a cloud provider is configured, checked without loading its SDK (loading the AWS or E2B SDK costs a
 * server that does not use them start-up time and memory: adr/0026). The providers check the same way.
 */

/** Why the ECS provider cannot be made with these settings, naming every missing one; null when it can. */
export function ecsNotConfigured(o: {
  cluster: string;
  taskDefinition: string;
  subnets: readonly string[];
  region?: string | undefined;
  hasClient?: boolean;
}): AppError | null {
  const missing = [
    ...(o.cluster ? [] : ['RCLAUDE_ECS_CLUSTER']),
    ...(o.taskDefinition ? [] : ['RCLAUDE_ECS_TASK_DEFINITION']),
    ...(o.subnets.length > 0 ? [] : ['RCLAUDE_ECS_SUBNETS']),
    ...(o.hasClient || o.region ? [] : ['AWS_REGION']),
  ];
  return missing.length === 0
    ? null
    : new AppError(
        'PROVIDER_UNAVAILABLE',
        `the ECS provider is not configured: set ${missing.join(', ')} (see docs/deploy-aws.md)`,
      );
}

/** Why the E2B provider cannot be made with this API key; null when it can. */
export function e2bNotConfigured(apiKey: string): AppError | null {
  return apiKey ? null : new AppError('PROVIDER_UNAVAILABLE', 'the E2B provider needs an API key: set E2B_API_KEY');
}
