/** Container tests (npm run test:containers): build and run the images with podman; minutes, not seconds. */
const base = require('./jest.config');

module.exports = {
  ...base,
  roots: ['<rootDir>/test/containers'],
  testPathIgnorePatterns: ['/node_modules/'],
  globalSetup: '<rootDir>/test/containers/global-setup.ts',
  testTimeout: 20 * 60 * 1000,
  maxWorkers: 1,
};
