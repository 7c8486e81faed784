import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { App } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../src/build-app.js';
import { readSettings } from '../src/settings.js';
import { AGENT_CONTAINER, CHECKPOINT_PREFIX, SANDBOX_FAMILY } from '../src/stacks/rclaude-stack.js';

type Json = Record<string, unknown>;

const outdirs: string[] = [];
function synthesize(context: Record<string, string> = {}) {
  const outdir = mkdtempSync(path.join(os.tmpdir(), 'rclaude-cdk-'));
  outdirs.push(outdir);
  // The built-in CloudFormation validation has its own test below; here it would only slow every synth.
  const app = new App({ outdir, context, builtinCloudFormationValidation: false });
  const { images, main } = buildApp(app);
  return { app, images: Template.fromStack(images), main: Template.fromStack(main), stack: main };
}

function resourcesOf(template: Template, type: string): [string, Json][] {
  return Object.entries(template.findResources(type)) as [string, Json][];
}

function props(resource: Json): Json {
  return resource.Properties as Json;
}

function logicalIdOf(template: Template, type: string, match: (p: Json) => boolean): string {
  const found = resourcesOf(template, type).filter(([, r]) => match(props(r)));
  expect(found, `one ${type}`).toHaveLength(1);
  return found[0]?.[0] ?? '';
}

function containerEnv(container: Json): Record<string, unknown> {
  return Object.fromEntries(
    (container.Environment as { Name: string; Value: unknown }[]).map((e) => [e.Name, e.Value]),
  );
}

let synth: ReturnType<typeof synthesize>;
let template: Template;

beforeAll(() => {
  synth = synthesize();
  template = synth.main;
});

afterAll(() => {
  for (const dir of outdirs) rmSync(dir, { recursive: true, force: true });
});

describe('network', () => {
  it('has a VPC over two AZs with public, private (NAT) and isolated subnets, env-agnostic', () => {
    template.resourceCountIs('AWS::EC2::VPC', 1);
    template.resourceCountIs('AWS::EC2::Subnet', 6);
    template.resourceCountIs('AWS::EC2::NatGateway', 1);
    expect(synth.stack.environment).toBe('aws://unknown-account/unknown-region');
    const json = JSON.stringify(template.toJSON());
    expect(json).toContain('Fn::GetAZs');
    // No account id or region baked in: the template deploys anywhere.
    expect(json).not.toMatch(/\b\d{12}\b/);
    expect(json).not.toMatch(/\b(us|eu|ap|sa|ca|me|af)-(east|west|north|south|central|northeast|southeast)-\d\b/);
  });

  it('gives sandboxes an egress-only security group, and data stores ingress from the proxy only', () => {
    const groups = resourcesOf(template, 'AWS::EC2::SecurityGroup');
    const sandbox = groups.find(([, r]) => String(props(r).GroupDescription).includes('sandbox'));
    expect(sandbox).toBeDefined();
    expect(props(sandbox?.[1] ?? {}).SecurityGroupIngress).toBeUndefined();
    const sandboxId = sandbox?.[0];
    const ingress = resourcesOf(template, 'AWS::EC2::SecurityGroupIngress').map(([, r]) => props(r));
    expect(ingress.some((i) => JSON.stringify(i.GroupId).includes(String(sandboxId)))).toBe(false);
    const proxySg = logicalIdOf(
      template,
      'AWS::EC2::SecurityGroup',
      (p) => p.GroupDescription === 'rclaude proxy tasks',
    );
    for (const port of [5432, 6379]) {
      const rules = ingress.filter((i) => i.FromPort === port);
      expect(rules).toHaveLength(1);
      expect(rules[0]?.SourceSecurityGroupId).toEqual({ 'Fn::GetAtt': [proxySg, 'GroupId'] });
    }
  });
});

describe('ECS', () => {
  it('has a cluster with the FARGATE and FARGATE_SPOT capacity providers', () => {
    template.hasResourceProperties('AWS::ECS::ClusterCapacityProviderAssociations', {
      CapacityProviders: Match.arrayWith(['FARGATE', 'FARGATE_SPOT']),
    });
  });

  it('defines the sandbox task: ARM64 Fargate, the agent container as uid 1000, CloudWatch logs, a Secrets Manager secret', () => {
    template.hasResourceProperties('AWS::ECS::TaskDefinition', {
      Family: SANDBOX_FAMILY,
      Cpu: '2048',
      Memory: '4096',
      NetworkMode: 'awsvpc',
      RequiresCompatibilities: ['FARGATE'],
      RuntimePlatform: { CpuArchitecture: 'ARM64', OperatingSystemFamily: 'LINUX' },
      ContainerDefinitions: [
        Match.objectLike({
          Name: AGENT_CONTAINER,
          Essential: true,
          User: '1000:1000',
          LogConfiguration: Match.objectLike({ LogDriver: 'awslogs' }),
          // No secret reaches a sandbox: git tokens stay with the proxy (adr/0024).
          Secrets: Match.absent(),
          Image: Match.objectLike({ 'Fn::Join': Match.arrayWith([Match.arrayWith([{ Ref: 'SandboxImageTag' }])]) }),
        }),
      ],
    });
    template.hasResourceProperties('AWS::Logs::LogGroup', { LogGroupName: '/rclaude/sandbox', RetentionInDays: 30 });
  });

  it('configures the proxy for the ECS provider, with credentials only as secrets', () => {
    const [, task] =
      resourcesOf(template, 'AWS::ECS::TaskDefinition').find(([, r]) => props(r).Family === 'rclaude-proxy') ?? [];
    const container = (props(task ?? {}).ContainerDefinitions as Json[])[0] ?? {};
    const env = containerEnv(container);
    expect(env.RCLAUDE_PROVIDER).toBe('ecs');
    expect(env.RCLAUDE_ECS_TASK_DEFINITION).toBe(SANDBOX_FAMILY);
    expect(env.RCLAUDE_ECS_CONTAINER).toBe(AGENT_CONTAINER);
    expect(env.RCLAUDE_ECS_CAPACITY).toBe('spot');
    expect(env.RCLAUDE_ECS_ASSIGN_PUBLIC_IP).toBe('false');
    expect(env.RCLAUDE_ECS_CLUSTER).toEqual({ Ref: expect.stringMatching(/^Cluster/) });
    expect(JSON.stringify(env.RCLAUDE_ECS_SUBNETS)).toContain('privateSubnet');
    expect(JSON.stringify(env.RCLAUDE_ECS_SECURITY_GROUPS)).toContain('SandboxSg');
    expect(JSON.stringify(env.REDIS_URL)).toContain('rediss://');
    expect(env.AWS_REGION).toEqual({ Ref: 'AWS::Region' });
    expect(env.HOST).toBe('0.0.0.0');
    const bucket = logicalIdOf(template, 'AWS::S3::Bucket', () => true);
    expect(env.RCLAUDE_CHECKPOINT_STORE).toBe('s3');
    expect(env.RCLAUDE_CHECKPOINT_S3_BUCKET).toEqual({ Ref: bucket });
    expect(env.RCLAUDE_CHECKPOINT_S3_PREFIX).toBe(CHECKPOINT_PREFIX);
    const secrets = (container.Secrets as { Name: string }[]).map((s) => s.Name).sort();
    expect(secrets).toEqual(['DB_PASSWORD', 'DB_USER', 'RCLAUDE_SECRET_KEY']);
    expect(Object.keys(env).some((k) => /PASSWORD|SECRET_KEY|TOKEN/.test(k))).toBe(false);
    expect((container.Command as string[]).join(' ')).toContain('exec rclaude server');
  });

  it('trusts X-Forwarded-For from the VPC only, which reaches the proxy through the load balancer only', () => {
    const [, task] =
      resourcesOf(template, 'AWS::ECS::TaskDefinition').find(([, r]) => props(r).Family === 'rclaude-proxy') ?? [];
    const env = containerEnv((props(task ?? {}).ContainerDefinitions as Json[])[0] ?? {});
    const vpc = logicalIdOf(template, 'AWS::EC2::VPC', () => true);
    expect(env.RCLAUDE_TRUST_PROXY).toEqual({ 'Fn::GetAtt': [vpc, 'CidrBlock'] });
    const proxySg = logicalIdOf(
      template,
      'AWS::EC2::SecurityGroup',
      (p) => p.GroupDescription === 'rclaude proxy tasks',
    );
    const albSg = logicalIdOf(
      template,
      'AWS::EC2::SecurityGroup',
      (p) => p.GroupDescription === 'rclaude load balancer',
    );
    const proxyIngress = resourcesOf(template, 'AWS::EC2::SecurityGroupIngress')
      .map(([, r]) => props(r))
      .filter((i) => JSON.stringify(i.GroupId).includes(proxySg));
    expect(proxyIngress).toHaveLength(1);
    expect(proxyIngress[0]?.SourceSecurityGroupId).toEqual({ 'Fn::GetAtt': [albSg, 'GroupId'] });
    const proxyGroup = resourcesOf(template, 'AWS::EC2::SecurityGroup').find(([id]) => id === proxySg)?.[1] ?? {};
    expect(props(proxyGroup).SecurityGroupIngress).toBeUndefined();
  });

  it('runs the proxy service in private subnets behind the load balancer with rollback', () => {
    template.hasResourceProperties('AWS::ECS::Service', {
      DesiredCount: 2,
      LaunchType: 'FARGATE',
      DeploymentConfiguration: Match.objectLike({ DeploymentCircuitBreaker: { Enable: true, Rollback: true } }),
      NetworkConfiguration: { AwsvpcConfiguration: Match.objectLike({ AssignPublicIp: 'DISABLED' }) },
      LoadBalancers: [Match.objectLike({ ContainerName: 'proxy', ContainerPort: 7878 })],
      // The first sign-in link is minted inside a proxy task (docs/deploy-aws.md › First login).
      EnableExecuteCommand: true,
    });
  });
});

describe('load balancer', () => {
  it('keeps WebSockets open for an hour and pins Socket.io sessions with a cookie', () => {
    template.hasResourceProperties('AWS::ElasticLoadBalancingV2::LoadBalancer', {
      Scheme: 'internet-facing',
      LoadBalancerAttributes: Match.arrayWith([{ Key: 'idle_timeout.timeout_seconds', Value: '3600' }]),
    });
    template.hasResourceProperties('AWS::ElasticLoadBalancingV2::TargetGroup', {
      Port: 7878,
      TargetType: 'ip',
      HealthCheckPath: '/healthz',
      TargetGroupAttributes: Match.arrayWith([
        { Key: 'stickiness.enabled', Value: 'true' },
        { Key: 'stickiness.type', Value: 'lb_cookie' },
      ]),
    });
    template.hasResourceProperties('AWS::ElasticLoadBalancingV2::Listener', { Port: 80, Protocol: 'HTTP' });
  });

  it('serves HTTPS with a certificate and redirects HTTP to it', () => {
    const https = synthesize({
      certificateArn: 'arn:aws:acm:us-east-1:123456789012:certificate/abc',
      publicUrl: 'https://rclaude.example.com',
    });
    https.main.hasResourceProperties('AWS::ElasticLoadBalancingV2::Listener', {
      Port: 443,
      Protocol: 'HTTPS',
      Certificates: [{ CertificateArn: 'arn:aws:acm:us-east-1:123456789012:certificate/abc' }],
    });
    https.main.hasResourceProperties('AWS::ElasticLoadBalancingV2::Listener', {
      Port: 80,
      DefaultActions: [Match.objectLike({ Type: 'redirect', RedirectConfig: Match.objectLike({ Protocol: 'HTTPS' }) })],
    });
    const [, task] =
      resourcesOf(https.main, 'AWS::ECS::TaskDefinition').find(([, r]) => props(r).Family === 'rclaude-proxy') ?? [];
    const env = containerEnv((props(task ?? {}).ContainerDefinitions as Json[])[0] ?? {});
    expect(env.RCLAUDE_PUBLIC_URL).toBe('https://rclaude.example.com');
    expect(env.RCLAUDE_COOKIE_SECURE).toBe('true');
  });
});

describe('data stores', () => {
  it('runs encrypted, private Postgres on RDS with a generated secret', () => {
    template.hasResourceProperties('AWS::RDS::DBInstance', {
      Engine: 'postgres',
      StorageEncrypted: true,
      PubliclyAccessible: false,
      DeletionProtection: true,
      DBName: 'rclaude',
    });
    template.hasResourceProperties('AWS::SecretsManager::Secret', {
      GenerateSecretString: Match.objectLike({ ExcludeCharacters: Match.stringLikeRegexp('@') }),
    });
  });

  it('keeps checkpoints in one private, encrypted, TLS-only, unversioned bucket that outlives the stack', () => {
    const buckets = resourcesOf(template, 'AWS::S3::Bucket');
    expect(buckets).toHaveLength(1);
    const [bucketId, bucket] = buckets[0] ?? ['', {}];
    expect(bucket.DeletionPolicy).toBe('Retain');
    expect(bucket.UpdateReplacePolicy).toBe('Retain');
    expect(props(bucket)).toEqual({
      BucketEncryption: {
        ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }],
      },
      PublicAccessBlockConfiguration: {
        BlockPublicAcls: true,
        BlockPublicPolicy: true,
        IgnorePublicAcls: true,
        RestrictPublicBuckets: true,
      },
      OwnershipControls: { Rules: [{ ObjectOwnership: 'BucketOwnerEnforced' }] },
      LifecycleConfiguration: {
        Rules: [
          {
            Id: 'AbortIncompleteUploads',
            Status: 'Enabled',
            AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 },
          },
        ],
      },
    });
    // Content-addressed: no versioning (and so no noncurrent versions to expire).
    expect(props(bucket).VersioningConfiguration).toBeUndefined();
    const policies = resourcesOf(template, 'AWS::S3::BucketPolicy').map(([, r]) => props(r));
    expect(policies).toHaveLength(1);
    expect(policies[0]?.Bucket).toEqual({ Ref: bucketId });
    const document = policies[0]?.PolicyDocument as { Statement: Json[] } | undefined;
    const statements = document?.Statement;
    expect(statements).toEqual([
      expect.objectContaining({
        Effect: 'Deny',
        Action: 's3:*',
        Principal: { AWS: '*' },
        Condition: { Bool: { 'aws:SecureTransport': 'false' } },
      }),
    ]);
  });

  it('runs Redis on ElastiCache with TLS and encryption at rest', () => {
    template.hasResourceProperties('AWS::ElastiCache::ReplicationGroup', {
      Engine: 'redis',
      TransitEncryptionEnabled: true,
      AtRestEncryptionEnabled: true,
    });
  });
});

describe('IAM', () => {
  const statementsOfRole = (roleLogicalId: string): Json[] =>
    resourcesOf(template, 'AWS::IAM::Policy')
      .filter(([, r]) => JSON.stringify(props(r).Roles).includes(roleLogicalId))
      .flatMap(([, r]) => (props(r).PolicyDocument as { Statement: Json[] }).Statement);
  const actionsOf = (s: Json): string[] => [s.Action].flat() as string[];

  it('lets the proxy RunTask/StopTask/DescribeTasks/ListTasks only on its cluster and pass only the two sandbox roles', () => {
    const [, proxyTask] =
      resourcesOf(template, 'AWS::ECS::TaskDefinition').find(([, r]) => props(r).Family === 'rclaude-proxy') ?? [];
    const taskRole = (props(proxyTask ?? {}).TaskRoleArn as { 'Fn::GetAtt': string[] })['Fn::GetAtt'][0] ?? '';
    expect(taskRole).toMatch(/^ProxyTask/);
    const statements = statementsOfRole(taskRole);
    const ecsStatements = statements.filter((s) => actionsOf(s).some((a) => a.startsWith('ecs:')));
    const ecsActions = ecsStatements.flatMap(actionsOf).sort();
    expect(ecsActions).toEqual([
      'ecs:DescribeTasks',
      'ecs:ListTasks',
      'ecs:RunTask',
      'ecs:StopTask',
      'ecs:TagResource',
    ]);
    for (const s of ecsStatements) {
      expect(s.Effect).toBe('Allow');
      expect(s.Resource).not.toBe('*');
      const condition = JSON.stringify(s.Condition);
      expect(
        actionsOf(s).includes('ecs:TagResource') ? condition.includes('RunTask') : condition.includes('ecs:cluster'),
      ).toBe(true);
    }
    const run = ecsStatements.find((s) => actionsOf(s).includes('ecs:RunTask'));
    expect(JSON.stringify(run?.Resource)).toContain(`:task-definition/${SANDBOX_FAMILY}:*`);

    const pass = statements.filter((s) => actionsOf(s).includes('iam:PassRole'));
    expect(pass).toHaveLength(1);
    const passedArns = (pass[0]?.Resource ?? []) as { 'Fn::GetAtt': string[] }[];
    const passed = passedArns.map((r) => r['Fn::GetAtt'][0]).sort();
    const sandboxTaskRole = logicalIdOf(
      template,
      'AWS::IAM::Role',
      (p) => p.Description === 'rclaude sandbox tasks (no permissions)',
    );
    const [, sandboxTask] =
      resourcesOf(template, 'AWS::ECS::TaskDefinition').find(([, r]) => props(r).Family === SANDBOX_FAMILY) ?? [];
    const sandboxExecutionRole = (props(sandboxTask ?? {}).ExecutionRoleArn as { 'Fn::GetAtt': string[] })[
      'Fn::GetAtt'
    ][0];
    expect(passed).toEqual([sandboxExecutionRole, sandboxTaskRole].sort());
    expect(pass[0]?.Condition).toEqual({ StringEquals: { 'iam:PassedToService': 'ecs-tasks.amazonaws.com' } });
  });

  it('lets the proxy get, put and delete checkpoint objects under the prefix and list only the prefix', () => {
    const [, proxyTask] =
      resourcesOf(template, 'AWS::ECS::TaskDefinition').find(([, r]) => props(r).Family === 'rclaude-proxy') ?? [];
    const taskRole = (props(proxyTask ?? {}).TaskRoleArn as { 'Fn::GetAtt': string[] })['Fn::GetAtt'][0] ?? '';
    const bucket = logicalIdOf(template, 'AWS::S3::Bucket', () => true);
    const s3Statements = statementsOfRole(taskRole).filter((s) => actionsOf(s).some((a) => a.startsWith('s3:')));
    expect(s3Statements).toEqual([
      {
        Sid: 'CheckpointObjects',
        Effect: 'Allow',
        Action: ['s3:GetObject', 's3:PutObject', 's3:DeleteObject'],
        Resource: { 'Fn::Join': ['', [{ 'Fn::GetAtt': [bucket, 'Arn'] }, `/${CHECKPOINT_PREFIX}*`]] },
      },
      {
        Sid: 'ListCheckpoints',
        Effect: 'Allow',
        Action: 's3:ListBucket',
        Resource: { 'Fn::GetAtt': [bucket, 'Arn'] },
        Condition: { StringLike: { 's3:prefix': [`${CHECKPOINT_PREFIX}*`] } },
      },
    ]);
    // No other role may touch the bucket's objects: the sandboxes' roles have nothing, the others no S3 at all.
    const others = resourcesOf(template, 'AWS::IAM::Policy').filter(
      ([, r]) => !JSON.stringify(props(r).Roles).includes(taskRole),
    );
    for (const [, policy] of others) expect(JSON.stringify(props(policy).PolicyDocument)).not.toContain('s3:');
  });

  it('gives the sandbox task role no permissions at all', () => {
    const sandboxTaskRole = logicalIdOf(
      template,
      'AWS::IAM::Role',
      (p) => p.Description === 'rclaude sandbox tasks (no permissions)',
    );
    expect(statementsOfRole(sandboxTaskRole)).toEqual([]);
    const role = template.findResources('AWS::IAM::Role')[sandboxTaskRole] as Json;
    expect(props(role).ManagedPolicyArns).toBeUndefined();
  });

  it('has no wildcard actions and no PassRole on *', () => {
    for (const [, policy] of resourcesOf(template, 'AWS::IAM::Policy')) {
      for (const s of (props(policy).PolicyDocument as { Statement: Json[] }).Statement) {
        expect(actionsOf(s).some((a) => a === '*' || a.endsWith(':*'))).toBe(false);
        if (actionsOf(s).includes('iam:PassRole')) expect(s.Resource).not.toBe('*');
      }
    }
  });
});

describe('images and parameters', () => {
  it('creates immutable, scanned ECR repositories', () => {
    synth.images.resourceCountIs('AWS::ECR::Repository', 2);
    synth.images.allResourcesProperties('AWS::ECR::Repository', {
      ImageTagMutability: 'IMMUTABLE',
      ImageScanningConfiguration: { ScanOnPush: true },
    });
  });

  it('takes image tags as parameters that refuse "latest"', () => {
    for (const name of ['ProxyImageTag', 'SandboxImageTag']) {
      const parameter = template.toJSON().Parameters[name] as { AllowedPattern: string };
      const pattern = new RegExp(parameter.AllowedPattern);
      expect(pattern.test('latest')).toBe(false);
      expect(pattern.test('0.1.0')).toBe(true);
      expect(pattern.test('2026-01-02.abc123')).toBe(true);
    }
  });

  it('reports every invalid setting at once', () => {
    const context: Record<string, unknown> = { sandboxCapacity: 'cheap', natGateways: '9', certificateArn: 'nope' };
    expect(() => readSettings((k) => context[k])).toThrow(
      /sandboxCapacity[\s\S]*natGateways|natGateways[\s\S]*sandboxCapacity/,
    );
    expect(() => readSettings((k) => context[k])).toThrow(/certificateArn/);
  });
});

describe('cdk synth', () => {
  it('synthesizes both stacks offline, passing the built-in CloudFormation validation as errors', () => {
    const outdir = mkdtempSync(path.join(os.tmpdir(), 'rclaude-cdk-full-'));
    outdirs.push(outdir);
    const app = new App({ outdir, context: { '@aws-cdk/core:validateAgainstDefaultRules': true } });
    buildApp(app);
    const assembly = app.synth();
    expect(assembly.stacks.map((s) => s.stackName).sort()).toEqual(['Rclaude', 'RclaudeImages']);
    // Nothing was looked up: no missing context for the CLI to fetch from an account.
    expect(assembly.manifest.missing ?? []).toEqual([]);
  });
});
