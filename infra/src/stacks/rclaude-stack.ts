import { Aws, CfnOutput, CfnParameter, Duration, Fn, RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib';
import * as acm from 'aws-cdk-lib/aws-certificatemanager';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecr from 'aws-cdk-lib/aws-ecr';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as elasticache from 'aws-cdk-lib/aws-elasticache';
import * as elbv2 from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as rds from 'aws-cdk-lib/aws-rds';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import type { Construct } from 'constructs';
import { PROXY_CPU, PROXY_MEMORY_MIB, type RclaudeSettings, SANDBOX_CPU, SANDBOX_MEMORY_MIB } from '../settings.js';

export interface RclaudeStackProps extends StackProps {
  settings: RclaudeSettings;
}

const PROXY_PORT = 7878;
/** Family of the sandbox task definition; the proxy runs its latest ACTIVE revision. */
export const SANDBOX_FAMILY = 'rclaude-sandbox';
/** The agent container's name, RCLAUDE_ECS_CONTAINER. */
export const AGENT_CONTAINER = 'agent';
/** Characters kept out of the database password: it goes into a postgres:// URL built by a shell. */
const URL_UNSAFE = ' %+~`#$&*()|[]{}:;<>?!\'/@"\\=,^';
/** Key prefix of everything the proxy keeps in the checkpoint bucket (RCLAUDE_CHECKPOINT_S3_PREFIX). */
export const CHECKPOINT_PREFIX = 'rclaude/';
const IMAGE_TAG_PATTERN = '^(?!latest$)[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$';

/**
 * rclaude on AWS: the proxy as an ECS service behind an ALB (WebSockets, sticky sessions), Postgres on RDS,
 * Redis on ElastiCache, checkpoints in S3, and the sandbox task definition the proxy starts with RunTask. Environment-agnostic:
 * synth needs no account, no lookups.
 */
export class RclaudeStack extends Stack {
  constructor(scope: Construct, id: string, props: RclaudeStackProps) {
    super(scope, id, props);
    const { settings } = props;

    const proxyImageTag = new CfnParameter(this, 'ProxyImageTag', {
      type: 'String',
      description: `Tag of the proxy image in ECR repository ${settings.proxyRepository} (a version, never "latest")`,
      allowedPattern: IMAGE_TAG_PATTERN,
    });
    const sandboxImageTag = new CfnParameter(this, 'SandboxImageTag', {
      type: 'String',
      description: `Tag of the sandbox image in ECR repository ${settings.sandboxRepository} (a version, never "latest")`,
      allowedPattern: IMAGE_TAG_PATTERN,
    });

    // ---- network ---------------------------------------------------------------------------------
    const vpc = new ec2.Vpc(this, 'Vpc', {
      maxAzs: 2,
      natGateways: settings.natGateways,
      subnetConfiguration: [
        { name: 'public', subnetType: ec2.SubnetType.PUBLIC, cidrMask: 24 },
        { name: 'private', subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS, cidrMask: 20 },
        { name: 'data', subnetType: ec2.SubnetType.PRIVATE_ISOLATED, cidrMask: 24 },
      ],
    });
    const privateSubnets = vpc.selectSubnets({ subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS });
    const dataSubnets = vpc.selectSubnets({ subnetType: ec2.SubnetType.PRIVATE_ISOLATED });

    const albSg = new ec2.SecurityGroup(this, 'LoadBalancerSg', {
      vpc,
      description: 'rclaude load balancer',
      allowAllOutbound: false,
    });
    const proxySg = new ec2.SecurityGroup(this, 'ProxySg', {
      vpc,
      description: 'rclaude proxy tasks',
      allowAllOutbound: true,
    });
    // Sandboxes only dial out (Anthropic, git hosts, the proxy through the load balancer): no ingress at all.
    const sandboxSg = new ec2.SecurityGroup(this, 'SandboxSg', {
      vpc,
      description: 'rclaude sandbox tasks (egress only)',
      allowAllOutbound: true,
    });
    const databaseSg = new ec2.SecurityGroup(this, 'DatabaseSg', {
      vpc,
      description: 'rclaude Postgres',
      allowAllOutbound: false,
    });
    const redisSg = new ec2.SecurityGroup(this, 'RedisSg', {
      vpc,
      description: 'rclaude Redis',
      allowAllOutbound: false,
    });
    albSg.addEgressRule(proxySg, ec2.Port.tcp(PROXY_PORT), 'to the proxy');
    proxySg.addIngressRule(albSg, ec2.Port.tcp(PROXY_PORT), 'from the load balancer');
    databaseSg.addIngressRule(proxySg, ec2.Port.tcp(5432), 'from the proxy');
    redisSg.addIngressRule(proxySg, ec2.Port.tcp(6379), 'from the proxy');

    // ---- data --------------------------------------------------------------------------------------
    const database = new rds.DatabaseInstance(this, 'Database', {
      engine: rds.DatabaseInstanceEngine.postgres({ version: rds.PostgresEngineVersion.VER_17_9 }),
      instanceType: ec2.InstanceType.of(ec2.InstanceClass.BURSTABLE4_GRAVITON, ec2.InstanceSize.MICRO),
      vpc,
      vpcSubnets: dataSubnets,
      securityGroups: [databaseSg],
      databaseName: 'rclaude',
      credentials: rds.Credentials.fromGeneratedSecret('rclaude', { excludeCharacters: URL_UNSAFE }),
      allocatedStorage: 20,
      maxAllocatedStorage: 100,
      storageEncrypted: true,
      multiAz: false,
      backupRetention: Duration.days(7),
      deletionProtection: true,
      removalPolicy: RemovalPolicy.SNAPSHOT,
      publiclyAccessible: false,
    });
    const databaseSecret = database.secret;
    if (!databaseSecret) throw new Error('the database has no generated secret');

    const redisSubnets = new elasticache.CfnSubnetGroup(this, 'RedisSubnets', {
      description: 'rclaude Redis',
      subnetIds: dataSubnets.subnetIds,
    });
    const redis = new elasticache.CfnReplicationGroup(this, 'Redis', {
      replicationGroupDescription: 'rclaude sessions, output logs and cross-proxy fan-out',
      engine: 'redis',
      engineVersion: '7.1',
      cacheNodeType: 'cache.t4g.micro',
      numCacheClusters: 1,
      automaticFailoverEnabled: false,
      transitEncryptionEnabled: true,
      atRestEncryptionEnabled: true,
      cacheSubnetGroupName: redisSubnets.ref,
      securityGroupIds: [redisSg.securityGroupId],
    });
    const redisUrl = `rediss://${redis.attrPrimaryEndPointAddress}:${redis.attrPrimaryEndPointPort}`;

    // Checkpoints (docs/checkpoints.md): content-addressed blobs and manifests. No versioning: a blob's key
    // names its bytes, so it is never overwritten with other content, and the only deletions are the proxy's
    // garbage collection, whose purpose versioning would defeat (every collected blob kept as a noncurrent
    // version, unseen by the proxy's accounting). Retained with the stack: it holds users' work.
    const checkpointBucket = new s3.Bucket(this, 'CheckpointBucket', {
      encryption: s3.BucketEncryption.S3_MANAGED,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      enforceSSL: true,
      versioned: false,
      removalPolicy: RemovalPolicy.RETAIN,
      lifecycleRules: [{ id: 'AbortIncompleteUploads', abortIncompleteMultipartUploadAfter: Duration.days(1) }],
    });

    // ---- secrets -----------------------------------------------------------------------------------
    // Created by hand before the first deploy (openssl rand -base64 32): losing it makes stored secrets unreadable.
    const secretKey = secretsmanager.Secret.fromSecretNameV2(this, 'SecretKey', settings.secretKeyName);
    // Sandboxes get no shared secret: git tokens are each user's, used by the proxy (adr/0024), and model keys
    // stay with the proxy's egress gateway.

    // ---- ECS ---------------------------------------------------------------------------------------
    const cluster = new ecs.Cluster(this, 'Cluster', { vpc, enableFargateCapacityProviders: true });

    const sandboxLogs = new logs.LogGroup(this, 'SandboxLogs', {
      logGroupName: '/rclaude/sandbox',
      retention: logs.RetentionDays.ONE_MONTH,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    const proxyLogs = new logs.LogGroup(this, 'ProxyLogs', {
      logGroupName: '/rclaude/proxy',
      retention: logs.RetentionDays.ONE_MONTH,
      removalPolicy: RemovalPolicy.DESTROY,
    });

    // The sandbox's own role has no permissions: code in a sandbox gets no AWS access.
    const sandboxTaskRole = new iam.Role(this, 'SandboxTaskRole', {
      assumedBy: new iam.ServicePrincipal('ecs-tasks.amazonaws.com'),
      description: 'rclaude sandbox tasks (no permissions)',
    });
    const sandboxTask = new ecs.FargateTaskDefinition(this, 'SandboxTask', {
      family: SANDBOX_FAMILY,
      cpu: SANDBOX_CPU,
      memoryLimitMiB: SANDBOX_MEMORY_MIB,
      runtimePlatform: {
        cpuArchitecture: ecs.CpuArchitecture.ARM64,
        operatingSystemFamily: ecs.OperatingSystemFamily.LINUX,
      },
      taskRole: sandboxTaskRole,
    });
    sandboxTask.addContainer(AGENT_CONTAINER, {
      containerName: AGENT_CONTAINER,
      image: ecs.ContainerImage.fromEcrRepository(
        ecr.Repository.fromRepositoryName(this, 'SandboxRepository', settings.sandboxRepository),
        sandboxImageTag.valueAsString,
      ),
      essential: true,
      user: '1000:1000',
      stopTimeout: Duration.seconds(30),
      environment: { RCLAUDE_WORKSPACE: '/workspace' },
      logging: ecs.LogDrivers.awsLogs({ logGroup: sandboxLogs, streamPrefix: 'sandbox' }),
    });
    const sandboxExecutionRole = sandboxTask.obtainExecutionRole();

    // ---- load balancer -----------------------------------------------------------------------------
    const alb = new elbv2.ApplicationLoadBalancer(this, 'LoadBalancer', {
      vpc,
      internetFacing: true,
      securityGroup: albSg,
      vpcSubnets: { subnetType: ec2.SubnetType.PUBLIC },
      // Terminal and agent WebSockets sit idle between keystrokes; Socket.io pings every 25 s anyway.
      idleTimeout: Duration.seconds(3600),
      dropInvalidHeaderFields: true,
    });
    const https = settings.certificateArn !== null;
    const publicUrl = settings.publicUrl ?? `${https ? 'https' : 'http'}://${alb.loadBalancerDnsName}`;

    // ---- proxy -------------------------------------------------------------------------------------
    const proxyTask = new ecs.FargateTaskDefinition(this, 'ProxyTask', {
      family: 'rclaude-proxy',
      cpu: PROXY_CPU,
      memoryLimitMiB: PROXY_MEMORY_MIB,
      runtimePlatform: {
        cpuArchitecture: ecs.CpuArchitecture.ARM64,
        operatingSystemFamily: ecs.OperatingSystemFamily.LINUX,
      },
    });
    proxyTask.addContainer('proxy', {
      containerName: 'proxy',
      image: ecs.ContainerImage.fromEcrRepository(
        ecr.Repository.fromRepositoryName(this, 'ProxyRepository', settings.proxyRepository),
        proxyImageTag.valueAsString,
      ),
      essential: true,
      user: '1000:1000',
      portMappings: [{ containerPort: PROXY_PORT }],
      // The image's entrypoint is tini; the URL is assembled here so the password never sits in the task definition.
      command: [
        'sh',
        '-c',
        'export DATABASE_URL="postgres://$DB_USER:$DB_PASSWORD@$DB_HOST:$DB_PORT/$DB_NAME?sslmode=verify-full"; exec rclaude server',
      ],
      environment: {
        HOST: '0.0.0.0',
        PORT: String(PROXY_PORT),
        RCLAUDE_PUBLIC_URL: publicUrl,
        REDIS_URL: redisUrl,
        DB_HOST: database.dbInstanceEndpointAddress,
        DB_PORT: database.dbInstanceEndpointPort,
        DB_NAME: 'rclaude',
        RCLAUDE_PROVIDER: 'ecs',
        AWS_REGION: Aws.REGION,
        RCLAUDE_ECS_CLUSTER: cluster.clusterName,
        RCLAUDE_ECS_TASK_DEFINITION: SANDBOX_FAMILY,
        RCLAUDE_ECS_CONTAINER: AGENT_CONTAINER,
        RCLAUDE_ECS_SUBNETS: Fn.join(',', privateSubnets.subnetIds),
        RCLAUDE_ECS_SECURITY_GROUPS: sandboxSg.securityGroupId,
        RCLAUDE_ECS_ASSIGN_PUBLIC_IP: 'false',
        RCLAUDE_ECS_CAPACITY: settings.sandboxCapacity,
        RCLAUDE_COOKIE_SECURE: https ? 'true' : 'false',
        // The load balancer's nodes have addresses in the VPC and append the client's address to
        // X-Forwarded-For; nothing else in the VPC reaches the proxy (its security group admits the load
        // balancer only), so a forged header from anywhere else is never believed.
        RCLAUDE_TRUST_PROXY: vpc.vpcCidrBlock,
        RCLAUDE_CHECKPOINT_STORE: 's3',
        RCLAUDE_CHECKPOINT_S3_BUCKET: checkpointBucket.bucketName,
        RCLAUDE_CHECKPOINT_S3_PREFIX: CHECKPOINT_PREFIX,
      },
      secrets: {
        DB_USER: ecs.Secret.fromSecretsManager(databaseSecret, 'username'),
        DB_PASSWORD: ecs.Secret.fromSecretsManager(databaseSecret, 'password'),
        RCLAUDE_SECRET_KEY: ecs.Secret.fromSecretsManager(secretKey),
      },
      healthCheck: {
        command: [
          'CMD',
          'node',
          '-e',
          `fetch('http://127.0.0.1:${PROXY_PORT}/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))`,
        ],
        interval: Duration.seconds(15),
        timeout: Duration.seconds(5),
        startPeriod: Duration.seconds(30),
        retries: 3,
      },
      logging: ecs.LogDrivers.awsLogs({ logGroup: proxyLogs, streamPrefix: 'proxy' }),
    });

    // Least privilege: start, watch and stop sandbox tasks on this cluster only, and hand them only their two roles.
    const clusterCondition = { ArnEquals: { 'ecs:cluster': cluster.clusterArn } };
    const ecsArn = (resource: string) => `arn:${Aws.PARTITION}:ecs:${Aws.REGION}:${Aws.ACCOUNT_ID}:${resource}`;
    proxyTask.taskRole.attachInlinePolicy(
      new iam.Policy(this, 'ProxySandboxPolicy', {
        statements: [
          new iam.PolicyStatement({
            sid: 'RunSandboxTasks',
            actions: ['ecs:RunTask'],
            resources: [ecsArn(`task-definition/${SANDBOX_FAMILY}:*`)],
            conditions: clusterCondition,
          }),
          new iam.PolicyStatement({
            sid: 'WatchAndStopSandboxTasks',
            actions: ['ecs:DescribeTasks', 'ecs:StopTask'],
            resources: [ecsArn(`task/${cluster.clusterName}/*`)],
            conditions: clusterCondition,
          }),
          new iam.PolicyStatement({
            sid: 'ListSandboxTasks',
            actions: ['ecs:ListTasks'],
            resources: [ecsArn(`container-instance/${cluster.clusterName}/*`)],
            conditions: clusterCondition,
          }),
          new iam.PolicyStatement({
            sid: 'TagSandboxTasksAtLaunch',
            actions: ['ecs:TagResource'],
            resources: [ecsArn(`task/${cluster.clusterName}/*`)],
            conditions: { StringEquals: { 'ecs:CreateAction': 'RunTask' } },
          }),
          new iam.PolicyStatement({
            sid: 'PassOnlySandboxRoles',
            actions: ['iam:PassRole'],
            resources: [sandboxTaskRole.roleArn, sandboxExecutionRole.roleArn],
            conditions: { StringEquals: { 'iam:PassedToService': 'ecs-tasks.amazonaws.com' } },
          }),
        ],
      }),
    );

    // Checkpoints: read, write and delete objects under the prefix, list only the prefix. Nothing else of S3.
    proxyTask.taskRole.attachInlinePolicy(
      new iam.Policy(this, 'ProxyCheckpointPolicy', {
        statements: [
          new iam.PolicyStatement({
            sid: 'CheckpointObjects',
            actions: ['s3:GetObject', 's3:PutObject', 's3:DeleteObject'],
            resources: [checkpointBucket.arnForObjects(`${CHECKPOINT_PREFIX}*`)],
          }),
          new iam.PolicyStatement({
            sid: 'ListCheckpoints',
            actions: ['s3:ListBucket'],
            resources: [checkpointBucket.bucketArn],
            conditions: { StringLike: { 's3:prefix': [`${CHECKPOINT_PREFIX}*`] } },
          }),
        ],
      }),
    );

    const service = new ecs.FargateService(this, 'ProxyService', {
      cluster,
      taskDefinition: proxyTask,
      desiredCount: settings.proxyCount,
      securityGroups: [proxySg],
      vpcSubnets: privateSubnets,
      assignPublicIp: false,
      minHealthyPercent: 100,
      maxHealthyPercent: 200,
      circuitBreaker: { rollback: true },
      healthCheckGracePeriod: Duration.seconds(60),
      // ECS Exec: the first admin's sign-in link is minted inside a proxy task (`rclaude web --print`), never
      // written to the log. CDK grants the task role the ssmmessages channel this needs.
      enableExecuteCommand: true,
    });

    const targetGroup = new elbv2.ApplicationTargetGroup(this, 'ProxyTargets', {
      vpc,
      port: PROXY_PORT,
      protocol: elbv2.ApplicationProtocol.HTTP,
      targetType: elbv2.TargetType.IP,
      targets: [service],
      healthCheck: { path: '/healthz', healthyHttpCodes: '200', interval: Duration.seconds(15) },
      // Socket.io's HTTP long-polling must come back to the proxy that holds the session.
      stickinessCookieDuration: Duration.days(1),
      // Lets WebSockets of a draining proxy move over; clients and agents reconnect and resume by offset.
      deregistrationDelay: Duration.seconds(30),
    });

    if (settings.certificateArn) {
      alb.addListener('Https', {
        port: 443,
        protocol: elbv2.ApplicationProtocol.HTTPS,
        certificates: [acm.Certificate.fromCertificateArn(this, 'Certificate', settings.certificateArn)],
        sslPolicy: elbv2.SslPolicy.RECOMMENDED_TLS,
        defaultTargetGroups: [targetGroup],
        open: false,
      });
      alb.addListener('Http', {
        port: 80,
        open: false,
        defaultAction: elbv2.ListenerAction.redirect({ protocol: 'HTTPS', port: '443', permanent: true }),
      });
      albSg.addIngressRule(ec2.Peer.ipv4(settings.ingressCidr), ec2.Port.tcp(443), 'HTTPS');
    } else {
      alb.addListener('Http', { port: 80, open: false, defaultTargetGroups: [targetGroup] });
    }
    albSg.addIngressRule(ec2.Peer.ipv4(settings.ingressCidr), ec2.Port.tcp(80), 'HTTP');

    new CfnOutput(this, 'Url', { value: publicUrl, description: 'Open this, or `rclaude login --server <url>`' });
    new CfnOutput(this, 'ClusterName', { value: cluster.clusterName });
    new CfnOutput(this, 'SandboxTaskFamily', { value: SANDBOX_FAMILY });
    new CfnOutput(this, 'ProxyLogGroup', { value: proxyLogs.logGroupName });
    new CfnOutput(this, 'CheckpointBucketName', { value: checkpointBucket.bucketName });
  }
}
