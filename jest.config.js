/** Jest with SWC: transpile-only (type-checking is `tsc --noEmit` in `npm test`). */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  // Container tests build images with podman (minutes): they run in `npm run test:containers`.
  testPathIgnorePatterns: ['/node_modules/', '<rootDir>/test/containers/'],
  transform: { '^.+\\.tsx?$': ['@swc/jest', { jsc: { target: 'es2022' }, module: { type: 'commonjs' } }] },
  // A bound on every test and hook. Tests that start the service as a process took up to 30 s each
  // under `npm run test:stress` (every core busy), and a hook may start two; 120 s holds there.
  testTimeout: 120000,
  maxWorkers: 2,
  reporters: ['default', '<rootDir>/test/support/summary-reporter.js'],
};
