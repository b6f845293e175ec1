// The deploy command's failures, each with the exit code it ends the process with: 2 for wrong options or
// an invalid spec, 3 for a missing tool or login, 1 for a step that failed (a tool's exit code, the smoke test).
export class DeployError extends Error {
  override readonly name: string = 'DeployError';
  constructor(
    message: string,
    readonly exitCode: 1 | 2 | 3,
  ) {
    super(message);
  }
}

/** Wrong options, or a spec that is invalid or meant for another target: nothing was run. */
export class UsageError extends DeployError {
  override readonly name = 'UsageError';
  constructor(message: string) {
    super(message, 2);
  }
}

/** A tool is not installed or not logged in; the message says how to fix it. */
export class PrerequisiteError extends DeployError {
  override readonly name = 'PrerequisiteError';
  constructor(message: string) {
    super(message, 3);
  }
}

/** A step ran and failed. */
export class StepError extends DeployError {
  override readonly name = 'StepError';
  constructor(message: string) {
    super(message, 1);
  }
}
