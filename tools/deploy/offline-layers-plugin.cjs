// osls compares each layer with the last deployed stack (DescribeStacks) while packaging, so that an
// unchanged layer is not published again. That needs AWS credentials, and packaging must work without
// them (CI, tests, reviewing the template). Without credentials there is no deployed stack to compare
// with: skip the comparison and package the layer as new. With credentials nothing changes.
class OfflineLayersPlugin {
  constructor(serverless) {
    const compileLayers = serverless.pluginManager.plugins.find(
      (plugin) => plugin.constructor.name === 'AwsCompileLayers',
    );
    if (!compileLayers) throw new Error('offline-layers-plugin: osls AwsCompileLayers plugin not found');
    const compare = compileLayers.compareWithLastLayer.bind(compileLayers);
    compileLayers.compareWithLastLayer = async (layerName) => {
      try {
        return await compare(layerName);
      } catch (error) {
        if (error?.code === 'AWS_CREDENTIALS_NOT_FOUND') return undefined;
        throw error;
      }
    };
  }
}

module.exports = OfflineLayersPlugin;
