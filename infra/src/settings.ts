/**
 * Deployment settings, read from CDK context (`cdk.json`, `-c key=value`) so synth needs no AWS account:
 * the stacks stay environment-agnostic and no lookups run.
 */
export interface RclaudeSettings {
  /** ACM certificate for HTTPS on the load balancer. Without it the proxy is served over plain HTTP. */
  certificateArn: string | null;
  /** The URL people and agents use (e.g. https://rclaude.example.com). Default: the load balancer's name. */
  publicUrl: string | null;
  /** CIDR allowed to reach the load balancer. Default everyone (agents come through the NAT gateway). */
  ingressCidr: string;
  /** NAT gateways (1 is cheapest, one per AZ survives an AZ outage). */
  natGateways: number;
  /** Proxy tasks behind the load balancer; they share Postgres and Redis. */
  proxyCount: number;
  /** Where sandbox tasks run: FARGATE_SPOT (with fallback) or FARGATE. */
  sandboxCapacity: 'spot' | 'ondemand';
  /** Secrets Manager name of the proxy's 32-byte key (base64), created before the first deploy. */
  secretKeyName: string;
  /** ECR repositories (created by the images stack). */
  proxyRepository: string;
  sandboxRepository: string;
}

export const SANDBOX_CPU = 2048;
export const SANDBOX_MEMORY_MIB = 4096;
export const PROXY_CPU = 1024;
export const PROXY_MEMORY_MIB = 2048;

type Context = (key: string) => unknown;

/** Reads and validates the settings; every problem is reported at once. */
export function readSettings(context: Context): RclaudeSettings {
  const problems: string[] = [];
  const text = (key: string, fallback: string | null): string | null => {
    const value = context(key);
    if (value === undefined || value === null || value === '') return fallback;
    if (typeof value !== 'string') problems.push(`${key} must be a string`);
    return String(value);
  };
  const count = (key: string, fallback: number, min: number, max: number): number => {
    const value = context(key);
    if (value === undefined) return fallback;
    const n = Number(value);
    if (!Number.isInteger(n) || n < min || n > max) problems.push(`${key} must be an integer from ${min} to ${max}`);
    return n;
  };
  const capacity = text('sandboxCapacity', 'spot');
  if (capacity !== 'spot' && capacity !== 'ondemand') problems.push('sandboxCapacity must be spot or ondemand');
  const certificateArn = text('certificateArn', null);
  if (certificateArn && !/^arn:aws[a-z-]*:acm:/.test(certificateArn))
    problems.push('certificateArn must be an ACM certificate ARN');
  const publicUrl = text('publicUrl', null);
  if (publicUrl && !/^https?:\/\/[^/]+$/.test(publicUrl))
    problems.push('publicUrl must be an origin like https://rclaude.example.com');
  const settings: RclaudeSettings = {
    certificateArn,
    publicUrl,
    ingressCidr: text('ingressCidr', '0.0.0.0/0') ?? '0.0.0.0/0',
    natGateways: count('natGateways', 1, 1, 3),
    proxyCount: count('proxyCount', 2, 1, 20),
    sandboxCapacity: capacity === 'ondemand' ? 'ondemand' : 'spot',
    secretKeyName: text('secretKeyName', 'rclaude/secret-key') ?? 'rclaude/secret-key',
    proxyRepository: text('proxyRepository', 'rclaude/proxy') ?? 'rclaude/proxy',
    sandboxRepository: text('sandboxRepository', 'rclaude/sandbox') ?? 'rclaude/sandbox',
  };
  if (problems.length > 0) throw new Error(`invalid rclaude settings:\n  ${problems.join('\n  ')}`);
  return settings;
}
