import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import aslValidator from 'asl-validator';
import { functions } from '../../functions/tasks.ts';
import { forServerlessStepFunctions, loadDefinitionTexts } from '../../tools/deploy/serverless-settings.ts';
import { resolvePlaceholders } from '../../tools/local/state-machine-runner.ts';

const root = join(import.meta.dirname, '..', '..');
const definitions = Object.entries(loadDefinitionTexts(root));

describe('statemachines/', () => {
  it('holds the backup, drill, drills, nightly and restore definitions', () => {
    expect(definitions.map(([name]) => name).sort()).toEqual([
      'backup',
      'drill',
      'drills',
      'nightly',
      'restore',
    ]);
  });

  describe.each(definitions)('%s.asl.json', (_name, text) => {
    it('passes asl-validator once its CloudFormation placeholders are resolved', () => {
      const result = aslValidator(JSON.parse(resolvePlaceholders(text)), {
        checkArn: true,
        checkPaths: true,
      });
      expect(result.errorsText('\n')).toBe('');
      expect(result.isValid).toBe(true);
    });

    it('references deployed resources only through placeholders the deployment defines', () => {
      const placeholders = [...text.matchAll(/\$\{([^}]+)\}/g)].map((m) => m[1]);
      for (const placeholder of placeholders) {
        const [logicalId] = (placeholder ?? '').split('.');
        // Serverless names a function's resource after its key with the first letter upper-cased:
        // drillSelectBackup -> DrillSelectBackupLambdaFunction.
        const name = /^(\w+)LambdaFunction$/.exec(logicalId ?? '')?.[1];
        const functionKey = name && `${name[0]?.toLowerCase()}${name.slice(1)}`;
        // serverless.yml's functions are the function table's rows (tools/deploy/functions.ts).
        if (functionKey) expect(Object.keys(functions)).toContain(functionKey);
        else
          expect(['AlertTopic', 'WorkerProject', 'BackupStateMachine', 'DrillStateMachine']).toContain(
            logicalId,
          );
      }
    });

    it('is handed to serverless-step-functions unchanged apart from the placeholder spelling', () => {
      const handed = JSON.stringify(forServerlessStepFunctions(text));
      expect(handed).not.toContain('${');
      expect(JSON.parse(handed.replace(/#\{([A-Za-z0-9.:]+)\}/g, '$${$1}'))).toEqual(JSON.parse(text));
    });
  });
});
