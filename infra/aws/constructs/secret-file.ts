// A Secrets Manager secret delivered to a container as a file. ECS injects secrets only as environment variables,
// so a short-lived writer container (same image) writes the value into a task volume that the service then mounts
// read-only; the service starts only after the writer exited 0.
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';

/** The variable the writer reads the secret from. */
const VALUE_VARIABLE = 'SECRET_FILE_CONTENT';

export interface SecretFileProps {
  readonly taskDefinition: ecs.TaskDefinition;
  /** An image with `node` on its PATH (the service's own image). */
  readonly image: ecs.ContainerImage;
  readonly secret: secretsmanager.ISecret;
  /** Directory the volume is mounted at, in both containers. */
  readonly directory: string;
  readonly fileName: string;
  readonly logging: ecs.LogDriver;
}

export class SecretFile extends Construct {
  /** The file's path inside the consuming container. */
  readonly path: string;
  readonly writer: ecs.ContainerDefinition;
  private readonly volumeName: string;
  private readonly directory: string;

  constructor(scope: Construct, id: string, props: SecretFileProps) {
    super(scope, id);
    this.directory = props.directory;
    this.path = `${props.directory}/${props.fileName}`;
    this.volumeName = `${id.toLowerCase()}-volume`;
    // A task volume without a host path: Fargate's ephemeral storage, shared by the task's containers only.
    props.taskDefinition.addVolume({ name: this.volumeName });
    const write = `require('node:fs').writeFileSync(process.argv[1], process.env.${VALUE_VARIABLE}, { mode: 0o444 })`;
    this.writer = props.taskDefinition.addContainer(`${id}Writer`, {
      image: props.image,
      // Not essential, so it may exit; the service waits for its success (ECS: SUCCESS needs a non-essential container).
      essential: false,
      // The fresh volume belongs to root; the file it writes is read-only and readable by the service's own user.
      user: '0',
      command: ['node', '-e', write, this.path],
      secrets: { [VALUE_VARIABLE]: ecs.Secret.fromSecretsManager(props.secret) },
      logging: props.logging,
      memoryReservationMiB: 64,
    });
    this.writer.addMountPoints({ sourceVolume: this.volumeName, containerPath: props.directory, readOnly: false });
  }

  /** Mounts the file's directory read-only into `container`, which starts once the file is written. */
  mountInto(container: ecs.ContainerDefinition): void {
    container.addMountPoints({ sourceVolume: this.volumeName, containerPath: this.directory, readOnly: true });
    container.addContainerDependencies({ container: this.writer, condition: ecs.ContainerDependencyCondition.SUCCESS });
  }
}
