import { Duration, RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib';
import * as ecr from 'aws-cdk-lib/aws-ecr';
import type { Construct } from 'constructs';

export interface ImagesStackProps extends StackProps {
  proxyRepository: string;
  sandboxRepository: string;
}

/**
 * The two image repositories, deployed first so images can be pushed before the service starts.
 * Tags are immutable: every deploy names an exact image.
 */
export class ImagesStack extends Stack {
  constructor(scope: Construct, id: string, props: ImagesStackProps) {
    super(scope, id, props);
    for (const [logicalId, repositoryName] of [
      ['ProxyRepository', props.proxyRepository],
      ['SandboxRepository', props.sandboxRepository],
    ] as const) {
      new ecr.Repository(this, logicalId, {
        repositoryName,
        imageTagMutability: ecr.TagMutability.IMMUTABLE,
        imageScanOnPush: true,
        encryption: ecr.RepositoryEncryption.AES_256,
        removalPolicy: RemovalPolicy.RETAIN,
        lifecycleRules: [
          { description: 'drop untagged layers', tagStatus: ecr.TagStatus.UNTAGGED, maxImageAge: Duration.days(7) },
          { description: 'keep the last 30 images', maxImageCount: 30 },
        ],
      });
    }
  }
}
