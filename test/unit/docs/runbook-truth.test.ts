/**
 * BACKUP_RUNBOOK.md stays true to what it describes: the states its overview diagram names are states
 * of the state machines it puts them in (and it leaves out none of their steps), and the settings its
 * Drills section and any `section.key` it names are settings of lib/config.ts or of the stage config
 * schema (tools/deploy/stage-config.ts). A renamed state or setting fails here, not at 3 a.m.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { z } from 'zod';
import { type MachineName, machineNames } from '../../../functions/tasks.ts';
import { runtimeSettingsSchema } from '../../../lib/settings.ts';
import { stageConfigSchema } from '../../../tools/deploy/stage-config.ts';
import { type AslState, loadAsl } from '../../support/definitions.ts';

const runbook = readFileSync(join(import.meta.dirname, '..', '..', '..', 'BACKUP_RUNBOOK.md'), 'utf8');

function section(heading: string): string {
  const start = runbook.indexOf(`\n${heading}\n`);
  if (start < 0) throw new Error(`BACKUP_RUNBOOK.md has no "${heading}"`);
  const next = runbook.indexOf('\n## ', start + heading.length + 1);
  return runbook.slice(start, next < 0 ? undefined : next);
}

/** Node labels `ID[State: what it does]` inside `subgraph <machine>[...]` ... `end`, by machine. */
function diagramStates(markdown: string): Record<string, string[]> {
  const diagram = /```mermaid\n([\s\S]*?)```/.exec(markdown)?.[1] ?? '';
  const states: Record<string, string[]> = {};
  let machine: string | undefined;
  for (const line of diagram.split('\n').map((l) => l.trim())) {
    const opened = /^subgraph (\w+)/.exec(line);
    if (opened?.[1]) {
      machine = opened[1];
      states[machine] = [];
    } else if (line === 'end') {
      machine = undefined;
    } else if (machine) {
      for (const node of line.matchAll(/\b[A-Z][A-Z0-9_]*\[([A-Za-z]+)[:\]]/g)) {
        if (node[1]) states[machine]?.push(node[1]);
      }
    }
  }
  return states;
}

type State = AslState & { ItemProcessor?: { States: Record<string, State> } };

function stateNames(states: Record<string, State>): string[] {
  return Object.entries(states).flatMap(([name, state]) => [
    name,
    ...(state.Branches ?? []).flatMap((branch) => stateNames(branch.States as Record<string, State>)),
    ...(state.ItemProcessor ? stateNames(state.ItemProcessor.States) : []),
  ]);
}

/** The machine's own steps: its top-level Task and Map states, not the native alert publishes. */
function steps(machine: MachineName): string[] {
  return Object.entries(loadAsl(machine).States as Record<string, State>)
    .filter(([, state]) => ['Task', 'Map'].includes(state.Type) && !state.Resource?.endsWith(':sns:publish'))
    .map(([name]) => name);
}

type JsonSchema = {
  properties?: Record<string, JsonSchema>;
  anyOf?: JsonSchema[];
  allOf?: JsonSchema[];
  oneOf?: JsonSchema[];
};
const stageSchema = z.toJSONSchema(stageConfigSchema, { io: 'input', unrepresentable: 'any' }) as JsonSchema;

function child(schema: JsonSchema | undefined, key: string): JsonSchema | undefined {
  if (!schema) return undefined;
  if (schema.properties?.[key]) return schema.properties[key];
  for (const branch of [...(schema.anyOf ?? []), ...(schema.allOf ?? []), ...(schema.oneOf ?? [])]) {
    const found = child(branch, key);
    if (found) return found;
  }
  return undefined;
}

const inStageConfig = (path: string) =>
  path.split('.').reduce<JsonSchema | undefined>((schema, key) => child(schema, key), stageSchema) !==
  undefined;
const runtimeSettings = new Set(Object.keys(runtimeSettingsSchema.shape));
const backticked = (text: string) => [...text.matchAll(/`([^`\n]+)`/g)].map((m) => m[1] ?? '');

describe('BACKUP_RUNBOOK.md', () => {
  describe('the overview diagram', () => {
    const drawn = diagramStates(section('## Overview'));

    it('draws the nightly and the backup state machines', () => {
      expect(Object.keys(drawn).sort()).toEqual(['backup', 'nightly']);
    });

    it.each(Object.keys(drawn))('names only states the %s state machine has', (machine) => {
      expect(machineNames).toContain(machine);
      const known = new Set(stateNames(loadAsl(machine as MachineName).States as Record<string, State>));
      expect(drawn[machine]?.filter((name) => !known.has(name))).toEqual([]);
    });

    it.each(Object.keys(drawn))('leaves out no step of the %s state machine', (machine) => {
      expect([...new Set(drawn[machine])].sort()).toEqual(
        expect.arrayContaining(steps(machine as MachineName)),
      );
    });

    it('reads the labels of a diagram', () => {
      const markdown = [
        '```mermaid',
        'subgraph backup[x]',
        '  A[Plan: p] --> B[Dumps: d]',
        'end',
        'C[Other: o]',
        '```',
      ];
      expect(diagramStates(markdown.join('\n'))).toEqual({ backup: ['Plan', 'Dumps'] });
    });
  });

  describe('the settings it names', () => {
    it('in the Drills section, are runtime settings or stage config keys', () => {
      const names = backticked(section('## Drills'));
      const variables = names.filter((name) => /^[A-Z][A-Z0-9]*(_[A-Z0-9]+)+$/.test(name));
      const paths = names
        .map((name) => /^([a-z][A-Za-z0-9]*(?:\.[a-z][A-Za-z0-9]*)+)(?::|$)/.exec(name)?.[1])
        .filter((path): path is string => path !== undefined);
      expect(variables.length + paths.length).toBeGreaterThan(0);
      expect(variables.filter((name) => !runtimeSettings.has(name))).toEqual([]);
      expect(paths.filter((path) => !inStageConfig(path))).toEqual([]);
    });

    it('anywhere, as `section.key` of the stage config, exist in its schema', () => {
      const sections = new Set(Object.keys(stageSchema.properties ?? {}));
      const paths = backticked(runbook)
        .map((name) => /^([a-z][A-Za-z0-9]*(?:\.[a-z][A-Za-z0-9]*)+)(?::|$)/.exec(name)?.[1])
        .filter((path): path is string => path !== undefined && sections.has(path.split('.')[0] ?? ''));
      expect(paths.length).toBeGreaterThan(5);
      expect(paths.filter((path) => !inStageConfig(path))).toEqual([]);
    });

    it('catches a setting spelled differently', () => {
      expect(inStageConfig('drill.sanityChecks')).toBe(true);
      expect(inStageConfig('drill.sanityCheck')).toBe(false);
      expect(runtimeSettings.has('DRILL_SANITY_CHECK')).toBe(false);
    });
  });
});
