// serverless.yml reads `${file(./tools/deploy/serverless-config.cjs)}`: osls loads JS variable sources
// with require(), and Node 22 can require() the ESM TypeScript module (type stripping, require(esm)).
const { join } = require('node:path');
const { serverlessSettings } = require('./serverless-settings.ts');

module.exports = ({ options }) => {
  const settings = serverlessSettings(options.stage ?? 'dev', join(__dirname, '..', '..'));
  if (!settings.pgClientLayerPresent) {
    const [, major, arch] = /pg-client-(\d+)-(\w+)\.zip$/.exec(settings.pgClientLayerZip) ?? [];
    throw new Error(
      `${settings.pgClientLayerZip} is missing: run \`npm run build:pg-client -- --major ${major} --arch ${arch}\` (npm run package does this for you)`,
    );
  }
  return settings;
};
