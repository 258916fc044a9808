/** Jest runs the TypeScript sources as native ES modules (middy 7 is ESM-only), transpiled by SWC. */
export default {
  testEnvironment: 'node',
  extensionsToTreatAsEsm: ['.ts'],
  transform: {
    '^.+\\.ts$': [
      '@swc/jest',
      { jsc: { parser: { syntax: 'typescript' }, target: 'es2023' }, module: { type: 'es6' } },
    ],
  },
  testMatch: ['<rootDir>/test/**/*.test.ts'],
  // Every AWS request a step makes is checked against its role in the packaged template.
  setupFilesAfterEnv: ['<rootDir>/test/support/iam/jest-setup.ts'],
  // Mocked clients' requests too (test/support/iam/client-mock.ts).
  moduleNameMapper: { '^aws-sdk-client-mock$': '<rootDir>/test/support/iam/client-mock.ts' },
  testTimeout: 120000,
  maxWorkers: 2,
};
