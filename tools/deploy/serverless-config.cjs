// serverless.yml reads `${file(./tools/deploy/serverless-config.cjs)}`: osls loads JS variable sources
// with require(), and Node 22 can require() the ESM TypeScript module (type stripping, require(esm)).
const { join } = require('node:path');
const { serverlessSettings } = require('./serverless-settings.ts');

module.exports = ({ options }) => {
  const settings = serverlessSettings(options.stage ?? 'dev', join(__dirname, '..', '..'));
  if (!settings.pgClientLayerPresent || !settings.pgServerLayerPresent) {
    const missing = settings.pgClientLayerPresent ? settings.pgServerLayerZip : settings.pgClientLayerZip;
    throw new Error(`${missing} is missing: \`npm run package\` builds it (see docs/pg-client.md)`);
  }
  return settings;
};
