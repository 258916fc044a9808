/**
 * `npm run package -- --stage <stage> [serverless options]`: validates config/<stage>.yml, builds the
 * pg-client layer for the stage's architecture when it is missing (the first arm64 build downloads
 * Debian packages; later builds come from the cache), then runs `serverless package`. No AWS
 * credentials needed; the template lands in .serverless/ (or --package <dir>).
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describeError } from '../../lib/errors.ts';
import { pgClientLayerZip, pgServerLayerZip } from './serverless-settings.ts';
import { loadStageConfig } from './stage-config.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The stage serverless will use: `--stage x`, `-s x`, `--stage=x`, else its default `dev`. */
function stageFrom(args: string[]): string {
  const index = args.findIndex((arg) => arg === '--stage' || arg === '-s');
  const inline = args.find((arg) => arg.startsWith('--stage='));
  return (index >= 0 ? args[index + 1] : inline?.slice('--stage='.length)) ?? 'dev';
}

function run(command: string, args: string[]): void {
  const result = spawnSync(process.execPath, [command, ...args], { cwd: root, stdio: 'inherit' });
  if (result.status !== 0) process.exit(result.status ?? 1);
}

function main(): void {
  const args = process.argv.slice(2);
  const stage = stageFrom(args);
  let config: ReturnType<typeof loadStageConfig>;
  try {
    config = loadStageConfig(stage, root);
  } catch (error) {
    console.error(describeError(error));
    process.exit(2);
  }
  const layer = pgClientLayerZip(config);
  if (!existsSync(join(root, layer))) {
    console.log(`${layer} is missing: building it`);
    run(join(root, 'layers/pg-client/build.ts'), [
      '--major',
      String(config.postgresClientMajor),
      '--arch',
      config.architecture,
    ]);
  }
  const serverLayer = pgServerLayerZip(config);
  if (!existsSync(join(root, serverLayer))) {
    console.log(`${serverLayer} is missing: building it`);
    run(join(root, 'layers/pg-client/build.ts'), [
      '--server',
      String(config.verification.serverMajor),
      '--arch',
      config.architecture,
      ...(config.verification.extensions.length > 0
        ? ['--extensions', config.verification.extensions.join(',')]
        : []),
    ]);
  }
  const serverless = createRequire(import.meta.url).resolve('osls/bin/serverless.js');
  run(serverless, ['package', ...args]);
}

main();
