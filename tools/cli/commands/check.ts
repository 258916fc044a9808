/**
 * `backupctl check [--local|--stage s] [--send-test-alert]`: is this setup ready for its first night?
 * One line per check with ✔, ✘ (and what to change) or – (skipped); exit 0 only when none failed, 2
 * when one failed on a setting (a Render key or id that Render refuses).
 */

import { SNSClient } from '@aws-sdk/client-sns';
import { runChecks } from '../../../lib/commands/check.ts';
import { readRuntimeSettings } from '../../../lib/config.ts';
import { publish } from '../../../lib/notify/publish.ts';
import { createRuntime } from '../../../lib/runtime.ts';
import { DeployedStage, serviceName } from '../../aws/stage.ts';
import { settingsFromStageConfig } from '../../deploy/stage-config.ts';
import { paintMark } from '../colour.ts';
import { type CommandContext, callOptions, exitCodes, sfnFor, withLocal, withTarget } from '../context.ts';

const marks = { pass: '✔', fail: '✘', skip: '–' } as const;

export async function checkCommand({ place, values, out, deps }: CommandContext): Promise<number> {
  const sendTestAlert = values['send-test-alert'] === true;
  const now = new Date();
  let results: Awaited<ReturnType<typeof runChecks>>;
  if (place.kind === 'local') {
    results = await withLocal({ production: true, staging: false }, (environment) => {
      const runtime = createRuntime(readRuntimeSettings(environment.settings));
      return runChecks(runtime, {
        now,
        sendTestAlert,
        publish: async (message) => publish(message, await runtime.channels('alert')),
      });
    });
  } else {
    const { settings } = place;
    const config = settings.config;
    results = await withTarget(
      place,
      deps,
      ({ runtime }) =>
        runChecks(runtime, {
          now,
          sendTestAlert,
          deployedScratchMajor: config.verification.serverMajor,
          // The alert topic's ARN: its name in the account that runs the stage's state machines.
          publish: async (message) => {
            const { backup } = await new DeployedStage(
              settings,
              sfnFor(settings, deps),
              callOptions(deps),
            ).stateMachineArns();
            const account = backup.split(':')[4];
            // To the topic, as a failure would go: e-mail, and the relay's Slack and webhook.
            return publish(message, {
              sns: {
                client: new SNSClient({ region: settings.region }),
                topicArn: `arn:aws:sns:${settings.region}:${account}:${serviceName}-${settings.stage}-alerts`,
              },
            });
          },
        }),
      settingsFromStageConfig(config, ['productionSecret', 'venues']),
    );
  }
  const width = Math.max(...results.map((r) => r.name.length));
  const lines = results.map(
    (r) =>
      `${paintMark(out.paint, marks[r.status])} ${r.name.padEnd(width)}  ${r.detail}${r.fix ? `\n  ${' '.repeat(width)}  fix: ${r.fix}` : ''}`,
  );
  const failed = results.filter((r) => r.status === 'fail').length;
  const verdict = failed
    ? out.paint(['bold', 'red'], `${failed} check(s) failed.`)
    : out.paint(['bold', 'green'], 'Every check passed.');
  out.print([...lines, '', verdict].join('\n'), {
    passed: failed === 0,
    checks: results,
  });
  // A wrong Render key or id is a setting to fix, as a malformed one is: exit 2, like any ConfigurationError.
  if (results.some((r) => r.status === 'fail' && r.errorName === 'ConfigurationError'))
    return exitCodes.usage;
  return failed ? exitCodes.failed : exitCodes.ok;
}
