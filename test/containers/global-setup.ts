// Once per `npm run test:containers`: installs podman and friends and builds the stand-in base image
// (scripts/containers/setup.sh is idempotent: a few seconds when everything is already there).
import { execFileSync } from 'node:child_process';
import { join, resolve } from 'node:path';

export default function globalSetup(): void {
  const script = join(resolve(__dirname, '..', '..'), 'scripts', 'containers', 'setup.sh');
  execFileSync(script, { stdio: 'inherit' });
}
