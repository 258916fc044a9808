/**
 * The state machines' data flow, followed through the steps' contracts (lib/lambda/step.ts), without
 * running anything: which fields each state's input may hold, from the execution input through every
 * Parameters, ResultSelector, ResultPath, OutputPath, Catch, Parallel branch, Map iteration and nested
 * execution. A state that reads a field no earlier state writes (on any path to it), hands a step a
 * field its input does not take, or leaves out one it requires, is a finding.
 *
 * Shapes are what may be present, not types: a field is there if some path to the state writes it (a
 * Choice's IsPresent is how the definitions ask). Scalars are not compared with each other; objects are,
 * field by field, to any depth, and a closed object (a strict input, or a step's declared output) has
 * exactly its declared fields.
 */
import { z } from 'zod';
import { type FunctionKey, functions, logicalIdOf, type MachineName } from '../../functions/tasks.ts';
import type { StepContract } from '../../lib/lambda/step.ts';
import type { AslDefinition, AslState } from './definitions.ts';
import { workerResource } from './definitions.ts';

export type Shape =
  /** Anything: a value we do not model (an AWS integration's answer, `z.unknown()`). */
  | { kind: 'any' }
  | { kind: 'value' }
  | { kind: 'object'; fields: Record<string, Shape>; open: boolean }
  | { kind: 'array'; items: Shape };

const anyShape: Shape = { kind: 'any' };
const valueShape: Shape = { kind: 'value' };
const objectShape = (fields: Record<string, Shape>, open = false): Shape => ({
  kind: 'object',
  fields,
  open,
});

type JsonSchema = {
  type?: string | string[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
  additionalProperties?: boolean | JsonSchema;
  items?: JsonSchema;
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  allOf?: JsonSchema[];
};

/** A zod schema as JSON Schema: `input` for what a step takes, `output` for what it answers. */
export function jsonSchemaOf(schema: z.ZodType, io: 'input' | 'output'): JsonSchema {
  return z.toJSONSchema(schema, { io, unrepresentable: 'any' }) as JsonSchema;
}

export function shapeOfJson(schema: JsonSchema): Shape {
  const alternatives = schema.anyOf ?? schema.oneOf;
  if (alternatives) return alternatives.map(shapeOfJson).reduce(mergeShapes);
  if (schema.allOf) return schema.allOf.map(shapeOfJson).reduce(mergeShapes);
  const types = Array.isArray(schema.type) ? schema.type : schema.type ? [schema.type] : [];
  if (types.includes('object') || schema.properties) {
    const fields = Object.fromEntries(
      Object.entries(schema.properties ?? {}).map(([name, field]) => [name, shapeOfJson(field)]),
    );
    return objectShape(fields, schema.additionalProperties !== false);
  }
  if (types.includes('array'))
    return { kind: 'array', items: schema.items ? shapeOfJson(schema.items) : anyShape };
  if (types.length === 0) return anyShape;
  return valueShape;
}

/** What may be there after either of two paths. */
export function mergeShapes(a: Shape, b: Shape): Shape {
  if (a.kind === 'any' || b.kind === 'any') return anyShape;
  if (a.kind === 'object' && b.kind === 'object') {
    const fields: Record<string, Shape> = { ...a.fields };
    for (const [name, shape] of Object.entries(b.fields)) {
      const mine = fields[name];
      fields[name] = mine ? mergeShapes(mine, shape) : shape;
    }
    return objectShape(fields, a.open || b.open);
  }
  if (a.kind === 'array' && b.kind === 'array')
    return { kind: 'array', items: mergeShapes(a.items, b.items) };
  if (a.kind === 'value' && b.kind === 'value') return valueShape;
  // A field that is an object on one path and a scalar on another: nothing can be said of it.
  return anyShape;
}

/** `$.a.b[0].c` -> ['a', 'b', 0, 'c']; the root `$` or `$$` is the caller's to pick. */
function segmentsOf(path: string): (string | number)[] {
  const rest = path.replace(/^\$\$?/, '');
  return [...rest.matchAll(/\.([A-Za-z_][\w-]*)|\[(\d+)\]/g)].map((m) =>
    m[2] !== undefined ? Number(m[2]) : (m[1] ?? ''),
  );
}

export class Findings {
  readonly list: string[] = [];
  add(where: string, text: string): void {
    const line = `${where}: ${text}`;
    if (!this.list.includes(line)) this.list.push(line);
  }
}

/** The shape at `path` in `root`, or undefined (and a finding) when nothing there is ever written. */
function resolveIn(root: Shape, path: string, where: string, findings: Findings): Shape | undefined {
  let shape: Shape = root;
  const walked: string[] = [];
  for (const segment of segmentsOf(path)) {
    walked.push(typeof segment === 'number' ? `[${segment}]` : `.${segment}`);
    if (shape.kind === 'any') return anyShape;
    if (typeof segment === 'number') {
      if (shape.kind !== 'array') {
        findings.add(
          where,
          `reads ${path}, but ${walked.slice(0, -1).join('') || 'the input'} is not a list`,
        );
        return undefined;
      }
      shape = shape.items;
      continue;
    }
    if (shape.kind !== 'object') {
      findings.add(where, `reads ${path}, but ${walked.slice(0, -1).join('') || 'the input'} has no fields`);
      return undefined;
    }
    const field: Shape | undefined = shape.fields[segment];
    if (!field) {
      if (shape.open) return anyShape;
      findings.add(where, `reads ${path}, which no earlier state writes`);
      return undefined;
    }
    shape = field;
  }
  return shape;
}

/** `$.a.b` set to `value` in `root` (ResultPath). */
function assign(root: Shape, path: string | null | undefined, value: Shape): Shape {
  if (path === null) return root;
  const segments = segmentsOf(path ?? '$');
  const set = (shape: Shape, at: number): Shape => {
    if (at === segments.length) return value;
    const name = String(segments[at]);
    const fields = shape.kind === 'object' ? shape.fields : {};
    const open = shape.kind === 'object' ? shape.open : shape.kind === 'any';
    return objectShape({ ...fields, [name]: set(fields[name] ?? objectShape({}), at + 1) }, open);
  };
  return set(root, 0);
}

/** The context object (`$$`): the execution's input and ids, and a Map's item. */
interface Context {
  executionInput: Shape;
  mapItem?: Shape;
}

function contextShape(context: Context): Shape {
  return objectShape({
    Execution: objectShape({
      Id: valueShape,
      Name: valueShape,
      StartTime: valueShape,
      Input: context.executionInput,
    }),
    State: objectShape({ Name: valueShape, EnteredTime: valueShape, RetryCount: valueShape }),
    ...(context.mapItem
      ? { Map: objectShape({ Item: objectShape({ Value: context.mapItem, Index: valueShape }) }) }
      : {}),
  });
}

/** A path or an intrinsic function's path arguments, resolved against the state's input or `$$`. */
function resolveExpression(
  expression: string,
  input: Shape,
  context: Context,
  where: string,
  findings: Findings,
): Shape {
  const resolvePath = (path: string) =>
    resolveIn(path.startsWith('$$') ? contextShape(context) : input, path, where, findings) ?? anyShape;
  if (!expression.startsWith('States.')) return resolvePath(expression);
  // Intrinsics: the paths among their arguments (quoted text is not a path).
  const unquoted = expression.replace(/'(?:[^'\\]|\\.)*'/g, "''");
  for (const match of unquoted.matchAll(/\$\$?(?:\.[A-Za-z_][\w-]*|\[\d+\])*/g)) resolvePath(match[0]);
  // Their results are text (Format, JsonToString) or values we do not model.
  return expression.startsWith('States.JsonToString') || expression.startsWith('States.Format')
    ? valueShape
    : anyShape;
}

/** The object a Parameters / ResultSelector / ItemSelector template builds. */
function buildTemplate(
  template: unknown,
  input: Shape,
  context: Context,
  where: string,
  findings: Findings,
): Shape {
  if (Array.isArray(template)) {
    const items = template.map((item) => buildTemplate(item, input, context, where, findings));
    return { kind: 'array', items: items.length ? items.reduce(mergeShapes) : anyShape };
  }
  if (template === null || typeof template !== 'object') return valueShape;
  const fields: Record<string, Shape> = {};
  for (const [key, value] of Object.entries(template)) {
    if (key.endsWith('.$') && typeof value === 'string') {
      fields[key.slice(0, -2)] = resolveExpression(value, input, context, where, findings);
    } else {
      fields[key] = buildTemplate(value, input, context, where, findings);
    }
  }
  return objectShape(fields);
}

/**
 * Whether what a state hands (`given`) fits what a step or machine takes (`wanted`, its input schema):
 * every field it requires is there, and a closed input gets no field it does not know.
 */
export function checkFits(
  given: Shape,
  wanted: JsonSchema,
  where: string,
  path: string,
  findings: Findings,
): void {
  if (given.kind === 'any') return;
  const alternatives = wanted.anyOf ?? wanted.oneOf;
  if (alternatives) {
    // Fits one of them (a nullable or a union): the one whose fields it has.
    const trials = alternatives.map((alternative) => {
      const trial = new Findings();
      checkFits(given, alternative, where, path, trial);
      return trial;
    });
    const fitting = trials.find((trial) => trial.list.length === 0);
    if (!fitting) for (const line of trials[0]?.list ?? []) findings.list.push(line);
    return;
  }
  const types = Array.isArray(wanted.type) ? wanted.type : wanted.type ? [wanted.type] : [];
  if (types.includes('object') || wanted.properties) {
    if (given.kind !== 'object') {
      findings.add(
        where,
        `hands ${path} as ${given.kind === 'array' ? 'a list' : 'a scalar'}, where an object is taken`,
      );
      return;
    }
    for (const name of wanted.required ?? []) {
      if (!(name in given.fields) && !given.open) {
        findings.add(where, `hands ${path} without ${name}, which the step requires`);
      }
    }
    for (const [name, shape] of Object.entries(given.fields)) {
      const property = wanted.properties?.[name];
      if (property) checkFits(shape, property, where, `${path}.${name}`, findings);
      else if (wanted.additionalProperties === false) {
        findings.add(where, `hands ${path}.${name}, which the step does not take`);
      }
    }
    return;
  }
  if (types.includes('array') && given.kind === 'array' && wanted.items) {
    checkFits(given.items, wanted.items, where, `${path}[]`, findings);
  }
}

export interface Machines {
  definitions: Record<MachineName, AslDefinition>;
  /** What each machine's execution input may hold (its first step parses it with this schema). */
  inputs: Record<MachineName, z.ZodType>;
  contracts: ReadonlyMap<FunctionKey, StepContract<z.ZodType, z.ZodType>>;
}

interface Walk {
  machine: MachineName;
  machines: Machines;
  findings: Findings;
  /** The final output of machines already walked (a nested execution's Output). */
  finals: Map<MachineName, Shape>;
}

const functionOfResource = (resource: string | undefined): FunctionKey | undefined =>
  (Object.keys(functions) as FunctionKey[]).find((key) => resource === `\${${logicalIdOf(key)}.Arn}`);

/**
 * The output of a state's work before ResultSelector/ResultPath, checking what it is handed: a step
 * (its contract), a worker build (the step it runs), a nested execution, or an AWS integration.
 */
function taskResult(
  state: AslState,
  input: Shape,
  effective: Shape,
  where: string,
  walk: Walk,
  context: Context,
): Shape {
  const { contracts } = walk.machines;
  const { findings } = walk;
  const key = functionOfResource(state.Resource);
  if (key) {
    const contract = contracts.get(key);
    if (!contract) {
      findings.add(where, `function ${key} has no contract (defineStep)`);
      return anyShape;
    }
    checkFits(effective, jsonSchemaOf(contract.input, 'input'), where, '$', findings);
    // The worker's result step answers what the step it reads the record of answers.
    const task = (state.Parameters as { task?: unknown } | undefined)?.task;
    if (key === 'workerResult' && typeof task === 'string') {
      const served = contracts.get(task as FunctionKey);
      if (!served) findings.add(where, `reads the record of ${task}, which has no contract`);
      return served ? shapeOfJson(jsonSchemaOf(served.output, 'output')) : anyShape;
    }
    return shapeOfJson(jsonSchemaOf(contract.output, 'output'));
  }
  if (state.Resource === workerResource) {
    const variables = state.Parameters?.EnvironmentVariablesOverride ?? [];
    const task = variables.find((v) => v.Name === 'WORKER_TASK')?.Value as FunctionKey | undefined;
    const event = variables.find((v) => v.Name === 'WORKER_EVENT')?.['Value.$'];
    const contract = task ? contracts.get(task) : undefined;
    const eventPath = /^States\.JsonToString\((\$[^)]*)\)$/.exec(event ?? '')?.[1];
    if (!contract || !eventPath) {
      findings.add(where, `runs ${task ?? 'no task'} on the worker without a contract or an event path`);
    } else {
      const given = resolveExpression(eventPath, input, context, where, findings);
      checkFits(given, jsonSchemaOf(contract.input, 'input'), where, eventPath, findings);
    }
    return objectShape({ Build: anyShape }, true);
  }
  if (state.Resource?.startsWith('arn:aws:states:::states:startExecution.sync')) {
    const child = walk.machines.definitions;
    const arn = String((state.Parameters as { StateMachineArn?: unknown })?.StateMachineArn ?? '');
    const name = (Object.keys(child) as MachineName[]).find(
      (machine) => arn === `\${${machine[0]?.toUpperCase()}${machine.slice(1)}StateMachine}`,
    );
    if (!name) {
      findings.add(where, `starts ${arn}, which is not one of the stage's machines`);
      return anyShape;
    }
    const input = effective.kind === 'object' ? effective.fields.Input : undefined;
    if (input)
      checkFits(input, jsonSchemaOf(walk.machines.inputs[name], 'input'), where, '$.Input', findings);
    return objectShape(
      { Status: valueShape, ExecutionArn: valueShape, Output: walk.finals.get(name) ?? anyShape },
      true,
    );
  }
  // Native integrations (SNS, Secrets Manager): their answers are not read by name.
  return anyShape;
}

interface Visit {
  /** The states it leads to, with the input each gets. */
  next: [string, Shape][];
  /** Its output, when it ends the machine or branch. */
  end?: Shape;
}

/** One state with the input it gets: what it hands on, and where; findings go to `findings`. */
function visitState(
  state: AslState,
  where: string,
  input: Shape,
  context: Context,
  walk: Walk,
  findings: Findings,
): Visit {
  const next: [string, Shape][] = [];
  const at = { ...walk, findings };
  const after = (result: Shape): Shape => {
    const withResult = assign(input, state.ResultPath, result);
    return state.OutputPath
      ? (resolveIn(withResult, state.OutputPath, where, findings) ?? anyShape)
      : withResult;
  };
  for (const caught of state.Catch ?? []) {
    next.push([
      caught.Next,
      assign(input, caught.ResultPath, objectShape({ Error: valueShape, Cause: valueShape })),
    ]);
  }
  const effective = state.Parameters
    ? buildTemplate(state.Parameters, input, context, where, findings)
    : input;
  let output: Shape;
  switch (state.Type) {
    case 'Task': {
      const raw = taskResult(state, input, effective, where, at, context);
      const selected = state.ResultSelector
        ? buildTemplate(state.ResultSelector, raw, context, where, findings)
        : raw;
      output = after(selected);
      break;
    }
    case 'Pass': {
      const result = (state as { Result?: unknown }).Result;
      output = after(
        result !== undefined ? buildTemplate(result, input, context, where, findings) : effective,
      );
      break;
    }
    case 'Parallel': {
      const branches = (state.Branches ?? []).map((branch) =>
        walkStates(
          branch.States,
          branch.StartAt,
          effective,
          context,
          at,
          `${where.slice(where.indexOf(': ') + 2)}/`,
        ),
      );
      output = after({ kind: 'array', items: branches.length ? branches.reduce(mergeShapes) : anyShape });
      break;
    }
    case 'Map': {
      const map = state as AslState & {
        ItemsPath?: string;
        ItemSelector?: unknown;
        MaxConcurrencyPath?: string;
        ItemProcessor?: { StartAt: string; States: Record<string, AslState> };
        Iterator?: { StartAt: string; States: Record<string, AslState> };
      };
      const items = resolveIn(input, map.ItemsPath ?? '$', where, findings) ?? anyShape;
      if (map.MaxConcurrencyPath) resolveIn(input, map.MaxConcurrencyPath, where, findings);
      const itemContext = { ...context, mapItem: items.kind === 'array' ? items.items : anyShape };
      const itemInput = map.ItemSelector
        ? buildTemplate(map.ItemSelector, input, itemContext, where, findings)
        : (itemContext.mapItem ?? anyShape);
      const processor = map.ItemProcessor ?? map.Iterator;
      const each = processor
        ? walkStates(
            processor.States,
            processor.StartAt,
            itemInput,
            itemContext,
            at,
            `${where.slice(where.indexOf(': ') + 2)}/`,
          )
        : anyShape;
      output = after({ kind: 'array', items: each });
      break;
    }
    case 'Choice': {
      for (const choice of state.Choices ?? []) {
        if (choice.Variable) resolveIn(input, choice.Variable, where, findings);
        next.push([choice.Next, input]);
      }
      if (state.Default) next.push([state.Default, input]);
      return { next };
    }
    case 'Fail': {
      const fail = state as { ErrorPath?: string; CausePath?: string };
      for (const path of [fail.ErrorPath, fail.CausePath]) if (path) resolveIn(input, path, where, findings);
      return { next };
    }
    case 'Succeed':
      return { next, end: input };
    default:
      output = input;
  }
  if (state.End) return { next, end: output };
  if (state.Next) next.push([state.Next, output]);
  return { next };
}

/**
 * Walks the states of one machine or branch from `start`, returning the shape at its end. First the
 * inputs are merged over every path until nothing grows; then each state is judged once, on all that
 * may reach it (judging on the way would blame a field a later path writes).
 */
function walkStates(
  states: Record<string, AslState>,
  start: string,
  entry: Shape,
  context: Context,
  walk: Walk,
  prefix: string,
): Shape {
  const inputs = new Map<string, Shape>([[start, entry]]);
  const seen = new Map<string, string>();
  const queue = [start];
  const quiet = new Findings();
  for (let steps = 0; queue.length > 0 && steps < 10_000; steps += 1) {
    const name = queue.shift() as string;
    const state = states[name];
    const input = inputs.get(name);
    if (!state || !input) continue;
    const fingerprint = JSON.stringify(input);
    if (seen.get(name) === fingerprint) continue;
    seen.set(name, fingerprint);
    const visit = visitState(state, `${walk.machine}: ${prefix}${name}`, input, context, walk, quiet);
    for (const [target, shape] of visit.next) {
      const before = inputs.get(target);
      inputs.set(target, before ? mergeShapes(before, shape) : shape);
      queue.push(target);
    }
  }
  let final: Shape | undefined;
  for (const [name, input] of inputs) {
    const state = states[name];
    const where = `${walk.machine}: ${prefix}${name}`;
    if (!state) {
      walk.findings.add(where, 'is named as a next state but does not exist');
      continue;
    }
    const visit = visitState(state, where, input, context, walk, walk.findings);
    if (visit.end) final = final ? mergeShapes(final, visit.end) : visit.end;
  }
  return final ?? anyShape;
}

/** Walks every machine, children before the machines that start them; returns the findings. */
export function checkDataFlow(machines: Machines, order: readonly MachineName[]): string[] {
  const findings = new Findings();
  const finals = new Map<MachineName, Shape>();
  for (const machine of order) {
    const definition = machines.definitions[machine];
    const executionInput = shapeOfJson(jsonSchemaOf(machines.inputs[machine], 'input'));
    const walk: Walk = { machine, machines, findings, finals };
    finals.set(
      machine,
      walkStates(definition.States, definition.StartAt, executionInput, { executionInput }, walk, ''),
    );
  }
  return findings.list;
}
