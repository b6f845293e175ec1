// The container image a stack runs: a prebuilt image named in the spec, else one target of the repository's
// Dockerfile, built and pushed to the CDK asset repository by `cdk deploy` (synth never needs Docker).
import * as path from 'node:path';
import { Platform } from 'aws-cdk-lib/aws-ecr-assets';
import * as ecr from 'aws-cdk-lib/aws-ecr';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import { Construct } from 'constructs';

/** The repository root: the Dockerfile's build context. */
export const REPOSITORY_ROOT = path.resolve(__dirname, '..', '..', '..');

/** Never part of the build context: dependencies are installed inside the image, the rest is local state. */
const CONTEXT_EXCLUDES = ['node_modules', 'cdk.out', '.git', 'coverage', 'models', '**/*.onnx'];

const ECR_IMAGE = /^(\d{12})\.dkr\.ecr\.([a-z0-9-]+)\.amazonaws\.com\/([^:@]+)(?::([^@]+))?(?:@(sha256:[0-9a-f]{64}))?$/;

export interface ServiceImageProps {
  /**
   * A prebuilt image (registry/repository:tag or @sha256:...). An ECR image gets pull permission on its repository.
   * @default - build `dockerTarget` of the Dockerfile in `buildContext`
   */
  readonly image?: string;
  /** Dockerfile stage to build: `gpu` or `cpu`. */
  readonly dockerTarget: string;
  /**
   * Build arguments, e.g. `MODEL_ID` to bake the model into the image.
   * @default - none
   */
  readonly buildArgs?: Record<string, string>;
  /**
   * Directory holding the Dockerfile.
   * @default REPOSITORY_ROOT
   */
  readonly buildContext?: string;
}

export class ServiceImage extends Construct {
  readonly containerImage: ecs.ContainerImage;

  constructor(scope: Construct, id: string, props: ServiceImageProps) {
    super(scope, id);
    if (props.image === undefined) {
      this.containerImage = ecs.ContainerImage.fromAsset(props.buildContext ?? REPOSITORY_ROOT, {
        target: props.dockerTarget,
        buildArgs: props.buildArgs,
        platform: Platform.LINUX_AMD64,
        exclude: CONTEXT_EXCLUDES,
      });
      return;
    }
    const ecrImage = ECR_IMAGE.exec(props.image);
    if (ecrImage === null) {
      this.containerImage = ecs.ContainerImage.fromRegistry(props.image);
      return;
    }
    const [, account, region, repositoryName, tag, digest] = ecrImage;
    // By ARN, so an image in another account or region keeps its own registry host and gets pull permission there.
    const repository = ecr.Repository.fromRepositoryArn(this, 'Repository', `arn:aws:ecr:${region}:${account}:repository/${repositoryName}`);
    this.containerImage = ecs.ContainerImage.fromEcrRepository(repository, digest ?? tag ?? 'latest');
  }
}
