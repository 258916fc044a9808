import { describe, expect, it } from '@jest/globals';
import { DeployedStage, loadStageSettings, stateMachineName } from '../../../../tools/aws/stage.ts';
import { projectRoot } from '../../../../tools/local/environment.ts';
import { SfnStub } from '../../../support/sfn-stub.ts';

describe('DeployedStage', () => {
  it('takes the region from the config unless --region says otherwise', () => {
    expect(loadStageSettings('test', projectRoot).region).toBe('eu-central-1');
    expect(loadStageSettings('test', projectRoot, 'us-east-2').region).toBe('us-east-2');
  });

  it('finds the state machines by exact name across pages, passing over look-alikes', async () => {
    const sfn = new SfnStub({ stage: 'test', bucketTag: 'backups-x1' });
    const stage = new DeployedStage(loadStageSettings('test', projectRoot), sfn);
    expect(await stage.stateMachineArns()).toEqual(sfn.machines);
    expect(stateMachineName('test', 'drill')).toBe('verified-pg-backups-test-drill');
    expect(await stage.bucket()).toBe('backups-x1');
    expect(sfn.names).toEqual([
      'ListStateMachinesCommand',
      'ListStateMachinesCommand',
      'ListTagsForResourceCommand',
    ]);
  });

  it('names a deployment without the bucket tag instead of guessing a bucket', async () => {
    const stage = new DeployedStage(loadStageSettings('test', projectRoot), new SfnStub({ stage: 'test' }));
    await expect(stage.bucket()).rejects.toMatchObject({
      name: 'ConfigurationError',
      message: expect.stringContaining('has no verified-pg-backups:bucket tag'),
    });
  });
});
