// An existing Secrets Manager secret named in the spec by ARN, checked before anything is built.
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { SpecError } from '../spec';

const SECRET_ARN = /^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:(.+)$/;
/** Secrets Manager appends `-` and six random characters to a secret's name in its complete ARN. */
const COMPLETE_SECRET_ARN = /-[A-Za-z0-9]{6}$/;

/** The secret at `arn`; `field` names the spec field in the error when `arn` is not a secret ARN. */
export function importSecret(scope: Construct, id: string, arn: string, field: string): secretsmanager.ISecret {
  const name = SECRET_ARN.exec(arn)?.[1];
  if (name === undefined) {
    throw new SpecError(`${field}: ${arn} is not a Secrets Manager secret ARN (arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME)`);
  }
  return COMPLETE_SECRET_ARN.test(name)
    ? secretsmanager.Secret.fromSecretCompleteArn(scope, id, arn)
    : secretsmanager.Secret.fromSecretPartialArn(scope, id, arn);
}
