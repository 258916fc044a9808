/**
 * Checks a CloudFormation template the way CloudFormation would read it, offline: against AWS's own
 * resource specification (@aws-cdk/aws-service-spec, the registry schemas CloudFormation publishes,
 * merged into one database) and against the IAM permissions AWS documents for each Step Functions
 * Task pattern. Each problem is a named finding, so a test can say which rule a template breaks.
 *
 * What is checked: resource types; property names at every level the specification describes (nested
 * property types, lists and maps of them, tags); required properties; the shape of a value where the
 * specification wants an object or a list; every Fn::GetAtt attribute; every Ref, Fn::GetAtt, Fn::Sub
 * and DependsOn target; every condition name. Conditions are evaluated (the packager writes them as
 * Fn::Equals of literals), so the template is also checked as CloudFormation deploys it for the stage:
 * resources of a false condition are left out, Fn::If takes its branch, AWS::NoValue drops the value.
 * What is not: primitive values and their patterns, allowed values and lengths, cross-resource
 * semantics (a subnet in the VPC, a key that exists), and anything CloudFormation learns only from the
 * account (names already taken, quotas).
 */
import { runSimulation } from '@cloud-copilot/iam-simulate';

type Json = Record<string, unknown>;

export interface TemplateResource {
  Type: string;
  Condition?: string;
  DependsOn?: string | string[];
  Properties?: Json;
  [key: string]: unknown;
}

export interface Template {
  Parameters?: Record<string, { Type?: string; Default?: unknown }>;
  Conditions?: Record<string, unknown>;
  Resources: Record<string, TemplateResource>;
  Outputs?: Record<string, { Value: unknown; Condition?: string; [key: string]: unknown }>;
  [key: string]: unknown;
}

export type Check =
  | 'unknown-resource-type'
  | 'unknown-property'
  | 'missing-required-property'
  | 'wrong-shape'
  | 'unknown-attribute'
  | 'unresolved-reference'
  | 'unknown-condition'
  | 'condition-not-evaluable'
  | 'unknown-task-pattern'
  | 'missing-integration-permission';

export interface Finding {
  check: Check;
  /** Where in the template: `Resources.BackupBucket.Properties.LifecycleConfiguration.Rules[0].Id`. */
  where: string;
  message: string;
}

/** One line per finding, for a test's failure message. */
export const describeFindings = (findings: Finding[]) =>
  findings.map((finding) => `${finding.check} at ${finding.where}: ${finding.message}`);

// ---------------------------------------------------------------------------------------------------
// The specification

/** The part of the specification the checks read: a resource type's properties and attributes. */
export type PropertyType =
  | { type: 'string' | 'number' | 'integer' | 'boolean' | 'json' | 'date-time' | 'null' | 'tag' }
  | { type: 'ref'; reference: { $ref: string } }
  | { type: 'array' | 'map'; element: PropertyType }
  | { type: 'union'; types: PropertyType[] };

export interface SpecProperty {
  required?: boolean;
  type: PropertyType;
}

export interface SpecResource {
  cloudFormationType: string;
  properties: Record<string, SpecProperty>;
  attributes: Record<string, unknown>;
}

export interface Spec {
  resource(type: string): SpecResource | undefined;
  /** The properties of a nested property type. */
  typeDefinition(id: string): Record<string, SpecProperty>;
}

/** The specification of @aws-cdk/aws-service-spec (about 2.5 MB; loads in about a second). */
export async function loadSpec(): Promise<Spec> {
  const { loadAwsServiceSpec } = await import('@aws-cdk/aws-service-spec');
  const db = await loadAwsServiceSpec();
  return {
    resource: (type) =>
      db.lookup('resource', 'cloudFormationType', 'equals', type)[0] as SpecResource | undefined,
    typeDefinition: (id) => db.get('typeDefinition', id).properties as Record<string, SpecProperty>,
  };
}

// ---------------------------------------------------------------------------------------------------
// Intrinsic functions

const pseudoParameters = new Set([
  'AWS::AccountId',
  'AWS::NotificationARNs',
  'AWS::NoValue',
  'AWS::Partition',
  'AWS::Region',
  'AWS::StackId',
  'AWS::StackName',
  'AWS::URLSuffix',
]);

const isObject = (value: unknown): value is Json =>
  value !== null && typeof value === 'object' && !Array.isArray(value);

/** The function of a one-key object `{ Ref: … }` / `{ "Fn::…": … }`, else undefined. */
function intrinsicOf(value: unknown): string | undefined {
  if (!isObject(value)) return undefined;
  const keys = Object.keys(value);
  const [only] = keys;
  return keys.length === 1 && only && (only === 'Ref' || only.startsWith('Fn::')) ? only : undefined;
}

type Reference =
  | { kind: 'ref'; target: string; where: string }
  | { kind: 'getatt'; target: string; attribute: string; where: string }
  | { kind: 'condition'; name: string; where: string };

/** The `${Name}` / `${Name.Attribute}` placeholders of an Fn::Sub text, without `${!Literal}`. */
function subPlaceholders(text: string): string[] {
  return [...text.matchAll(/\$\{([^}!][^}]*)\}/g)].map((match) => (match[1] ?? '').trim());
}

/** Every Ref, Fn::GetAtt, Fn::Sub placeholder and condition name under `node`. */
function referencesIn(node: unknown, where: string, found: Reference[] = []): Reference[] {
  if (Array.isArray(node)) {
    node.forEach((item, index) => {
      referencesIn(item, `${where}[${index}]`, found);
    });
    return found;
  }
  if (!isObject(node)) return found;
  const fn = intrinsicOf(node);
  const argument = fn ? node[fn] : undefined;
  if (fn === 'Ref' && typeof argument === 'string') {
    found.push({ kind: 'ref', target: argument, where });
    return found;
  }
  if (fn === 'Fn::GetAtt') {
    const [target, attribute] =
      typeof argument === 'string'
        ? [argument.slice(0, argument.indexOf('.')), argument.slice(argument.indexOf('.') + 1)]
        : (argument as unknown[]);
    if (typeof target === 'string' && typeof attribute === 'string') {
      found.push({ kind: 'getatt', target, attribute, where });
    } else referencesIn(argument, where, found);
    return found;
  }
  if (fn === 'Fn::Sub') {
    const [text, variables] = typeof argument === 'string' ? [argument, {}] : (argument as [unknown, Json]);
    const local = new Set(Object.keys(isObject(variables) ? variables : {}));
    if (typeof text === 'string') {
      for (const name of subPlaceholders(text)) {
        if (local.has(name)) continue;
        const dot = name.indexOf('.');
        found.push(
          dot < 0
            ? { kind: 'ref', target: name, where }
            : { kind: 'getatt', target: name.slice(0, dot), attribute: name.slice(dot + 1), where },
        );
      }
    }
    referencesIn(variables, where, found);
    return found;
  }
  if (fn === 'Fn::If' && Array.isArray(argument)) {
    const [condition, ...branches] = argument;
    if (typeof condition === 'string') found.push({ kind: 'condition', name: condition, where });
    referencesIn(branches, where, found);
    return found;
  }
  // Inside the Conditions section a condition names another one as { Condition: name }.
  const keys = Object.keys(node);
  if (keys.length === 1 && keys[0] === 'Condition' && typeof node.Condition === 'string') {
    found.push({ kind: 'condition', name: node.Condition, where });
    return found;
  }
  for (const [key, value] of Object.entries(node)) referencesIn(value, `${where}.${key}`, found);
  return found;
}

// ---------------------------------------------------------------------------------------------------
// Conditions and the template as CloudFormation deploys it

class NotEvaluable extends Error {}

/** Every condition's value, when each is decidable from the template alone (literals, defaults). */
export function evaluateConditions(template: Template): Record<string, boolean> {
  const definitions = template.Conditions ?? {};
  const values: Record<string, boolean> = {};
  const literal = (node: unknown): string => {
    if (typeof node === 'string' || typeof node === 'number' || typeof node === 'boolean')
      return String(node);
    if (intrinsicOf(node) === 'Ref') {
      const name = String((node as Json).Ref);
      const fallback = template.Parameters?.[name]?.Default;
      if (fallback !== undefined) return String(fallback);
    }
    throw new NotEvaluable(`cannot evaluate ${JSON.stringify(node)} without the stack`);
  };
  const evaluate = (node: unknown, seen: string[]): boolean => {
    if (!isObject(node)) throw new NotEvaluable(`not a condition: ${JSON.stringify(node)}`);
    if (typeof node.Condition === 'string') return condition(node.Condition, seen);
    const fn = intrinsicOf(node);
    const args = (fn ? node[fn] : undefined) as unknown[];
    switch (fn) {
      case 'Fn::Equals':
        return literal(args[0]) === literal(args[1]);
      case 'Fn::Not':
        return !evaluate(args[0], seen);
      case 'Fn::And':
        return args.every((arg) => evaluate(arg, seen));
      case 'Fn::Or':
        return args.some((arg) => evaluate(arg, seen));
      default:
        throw new NotEvaluable(`${fn ?? 'this'} is not a condition function`);
    }
  };
  const condition = (name: string, seen: string[]): boolean => {
    const known = values[name];
    if (known !== undefined) return known;
    if (seen.includes(name)) throw new NotEvaluable(`condition ${name} depends on itself`);
    if (!(name in definitions)) throw new NotEvaluable(`no condition ${name}`);
    const value = evaluate(definitions[name], [...seen, name]);
    values[name] = value;
    return value;
  };
  for (const name of Object.keys(definitions)) condition(name, []);
  return values;
}

const dropped = Symbol('AWS::NoValue');

/** Fn::If resolved to its branch and AWS::NoValue removed, as CloudFormation does at deploy time. */
function applyConditions(node: unknown, conditions: Record<string, boolean>): unknown {
  if (Array.isArray(node)) {
    return node.map((item) => applyConditions(item, conditions)).filter((item) => item !== dropped);
  }
  if (!isObject(node)) return node;
  const fn = intrinsicOf(node);
  if (fn === 'Ref' && node.Ref === 'AWS::NoValue') return dropped;
  if (fn === 'Fn::If') {
    const [name, whenTrue, whenFalse] = node[fn] as [string, unknown, unknown];
    return applyConditions(conditions[name] ? whenTrue : whenFalse, conditions);
  }
  return Object.fromEntries(
    Object.entries(node)
      .map(([key, value]) => [key, applyConditions(value, conditions)] as const)
      .filter(([, value]) => value !== dropped),
  );
}

/** The template CloudFormation deploys: resources and outputs of false conditions left out. */
export function deployedTemplate(template: Template, conditions: Record<string, boolean>): Template {
  const kept = <T extends { Condition?: string }>(entries: Record<string, T>) =>
    Object.fromEntries(
      Object.entries(entries)
        .filter(([, entry]) => entry.Condition === undefined || conditions[entry.Condition] === true)
        .map(([id, entry]) => [id, applyConditions(entry, conditions) as T]),
    );
  return {
    ...template,
    Resources: kept(template.Resources),
    ...(template.Outputs ? { Outputs: kept(template.Outputs) } : {}),
  };
}

// ---------------------------------------------------------------------------------------------------
// The schema checks

const path = (where: string, key: string | number) =>
  typeof key === 'number' ? `${where}[${key}]` : `${where}.${key}`;

/** Property names, required properties and shapes of one value against its specified type. */
function valueFindings(spec: Spec, value: unknown, type: PropertyType, where: string): Finding[] {
  if (intrinsicOf(value)) return [];
  switch (type.type) {
    case 'ref':
      if (!isObject(value)) return [{ check: 'wrong-shape', where, message: 'must be an object' }];
      return propertyFindings(spec, value, spec.typeDefinition(type.reference.$ref), where);
    case 'tag':
      if (!isObject(value)) return [{ check: 'wrong-shape', where, message: 'must be a tag { Key, Value }' }];
      return propertyFindings(
        spec,
        value,
        {
          Key: { required: true, type: { type: 'string' } },
          Value: { required: true, type: { type: 'string' } },
        },
        where,
      );
    case 'array':
      if (!Array.isArray(value)) return [{ check: 'wrong-shape', where, message: 'must be a list' }];
      return value.flatMap((item, index) => valueFindings(spec, item, type.element, path(where, index)));
    case 'map':
      if (!isObject(value)) return [{ check: 'wrong-shape', where, message: 'must be a map' }];
      return Object.entries(value).flatMap(([key, item]) =>
        valueFindings(spec, item, type.element, path(where, key)),
      );
    case 'union':
      return fittest(type.types.map((member) => valueFindings(spec, value, member, where)));
    default:
      // Primitive values and JSON documents: CloudFormation converts between strings, numbers and
      // booleans, and the specification's patterns are not checked here.
      return [];
  }
}

/** The findings of the alternative that fits best: none when any fits. */
function fittest(alternatives: Finding[][]): Finding[] {
  return alternatives.reduce(
    (best, next) => (next.length < best.length ? next : best),
    alternatives[0] ?? [],
  );
}

function propertyFindings(
  spec: Spec,
  properties: Json,
  specified: Record<string, SpecProperty>,
  where: string,
): Finding[] {
  const findings: Finding[] = [];
  for (const [name, value] of Object.entries(properties)) {
    const property = specified[name];
    if (!property) {
      findings.push({
        check: 'unknown-property',
        where: path(where, name),
        message: `${name} is not a property here`,
      });
      continue;
    }
    findings.push(...valueFindings(spec, value, property.type, path(where, name)));
  }
  for (const [name, property] of Object.entries(specified)) {
    if (property.required && !(name in properties)) {
      findings.push({
        check: 'missing-required-property',
        where: path(where, name),
        message: `${name} is required`,
      });
    }
  }
  return findings;
}

/** Resource types, properties and required properties, of a template whose conditions are applied. */
function resourceFindings(spec: Spec, template: Template): Finding[] {
  const findings: Finding[] = [];
  for (const [id, resource] of Object.entries(template.Resources)) {
    const where = `Resources.${id}`;
    if (resource.Type.startsWith('Custom::') || resource.Type === 'AWS::CloudFormation::CustomResource')
      continue;
    const specified = spec.resource(resource.Type);
    if (!specified) {
      findings.push({
        check: 'unknown-resource-type',
        where: `${where}.Type`,
        message: `${resource.Type} is not a CloudFormation resource type`,
      });
      continue;
    }
    const properties = resource.Properties ?? {};
    if (intrinsicOf(properties)) continue;
    findings.push(...propertyFindings(spec, properties, specified.properties, `${where}.Properties`));
  }
  return findings;
}

/** Every Ref / GetAtt / Sub / DependsOn target and condition name, against what the template defines. */
function referenceFindings(spec: Spec, template: Template, full: Template): Finding[] {
  const findings: Finding[] = [];
  const conditions = new Set(Object.keys(template.Conditions ?? {}));
  const parameters = new Set(Object.keys(template.Parameters ?? {}));
  const missing = (target: string) =>
    target in full.Resources && !(target in template.Resources)
      ? `${target} is left out of this stage (its Condition ${full.Resources[target]?.Condition} is false)`
      : `${target} is no resource, parameter or pseudo parameter of the template`;
  const references = [
    ...referencesIn(template.Resources, 'Resources'),
    ...referencesIn(template.Outputs ?? {}, 'Outputs'),
    ...referencesIn(template.Conditions ?? {}, 'Conditions'),
  ];
  for (const [id, entry] of [
    ...Object.entries(template.Resources),
    ...Object.entries(template.Outputs ?? {}),
  ]) {
    const where = `${id in template.Resources ? 'Resources' : 'Outputs'}.${id}.Condition`;
    if (entry.Condition !== undefined) references.push({ kind: 'condition', name: entry.Condition, where });
  }
  for (const reference of references) {
    if (reference.kind === 'condition') {
      if (!conditions.has(reference.name)) {
        findings.push({
          check: 'unknown-condition',
          where: reference.where,
          message: `no condition ${reference.name} in the template`,
        });
      }
      continue;
    }
    if (reference.kind === 'ref') {
      if (
        !(reference.target in template.Resources || parameters.has(reference.target)) &&
        !pseudoParameters.has(reference.target)
      ) {
        findings.push({
          check: 'unresolved-reference',
          where: reference.where,
          message: `Ref ${missing(reference.target)}`,
        });
      }
      continue;
    }
    const target = template.Resources[reference.target];
    if (!target) {
      findings.push({
        check: 'unresolved-reference',
        where: reference.where,
        message: `Fn::GetAtt ${missing(reference.target)}`,
      });
      continue;
    }
    if (target.Type.startsWith('Custom::') || target.Type === 'AWS::CloudFormation::CustomResource') continue;
    const specified = spec.resource(target.Type);
    if (specified && !(reference.attribute in specified.attributes)) {
      findings.push({
        check: 'unknown-attribute',
        where: reference.where,
        message: `${target.Type} has no attribute ${reference.attribute} (it has ${Object.keys(specified.attributes).join(', ') || 'none'})`,
      });
    }
  }
  for (const [id, resource] of Object.entries(template.Resources)) {
    const dependsOn = resource.DependsOn === undefined ? [] : [resource.DependsOn].flat();
    for (const target of dependsOn) {
      if (!(target in template.Resources)) {
        findings.push({
          check: 'unresolved-reference',
          where: `Resources.${id}.DependsOn`,
          message: `DependsOn ${missing(target)}`,
        });
      }
    }
  }
  return findings;
}

const unique = (findings: Finding[]) => [
  ...new Map(findings.map((finding) => [JSON.stringify(finding), finding])).values(),
];

/**
 * Every schema finding of a template: its references and condition names as written (every branch of
 * every Fn::If), then the template as CloudFormation deploys it (conditions evaluated) against the
 * specification and its references once more (nothing may name what its condition left out).
 */
export function schemaFindings(spec: Spec, template: Template): Finding[] {
  const findings = referenceFindings(spec, template, template);
  let conditions: Record<string, boolean>;
  try {
    conditions = evaluateConditions(template);
  } catch (error) {
    if (!(error instanceof NotEvaluable)) throw error;
    return [...findings, { check: 'condition-not-evaluable', where: 'Conditions', message: error.message }];
  }
  const deployed = deployedTemplate(template, conditions);
  return unique([
    ...findings,
    ...resourceFindings(spec, deployed),
    ...referenceFindings(spec, deployed, template),
  ]);
}

// ---------------------------------------------------------------------------------------------------
// Step Functions integration permissions

const account = '123456789012';
const region = 'us-east-1';

/**
 * Ref and Fn::GetAtt of the template's resources as concrete names and ARNs (in an invented account
 * and region), so that the state machines' definitions and their roles' policies can be compared by
 * an IAM policy evaluator.
 */
function concreteResolver(template: Template): (node: unknown) => unknown {
  const pseudo: Record<string, string> = {
    'AWS::AccountId': account,
    'AWS::Region': region,
    'AWS::Partition': 'aws',
    'AWS::URLSuffix': 'amazonaws.com',
    'AWS::StackName': 'stack',
    'AWS::StackId': `arn:aws:cloudformation:${region}:${account}:stack/stack/00000000-0000-4000-8000-000000000000`,
  };
  const named = (id: string, property: string, fallback = `stack-${id}`): string => {
    const value = template.Resources[id]?.Properties?.[property];
    return value === undefined ? fallback : String(resolve(value));
  };
  const ref = (id: string): string => {
    if (id in pseudo) return pseudo[id] as string;
    const parameter = template.Parameters?.[id];
    if (parameter) return String(parameter.Default ?? `parameter-${id}`);
    switch (template.Resources[id]?.Type) {
      case 'AWS::Lambda::Function':
        return named(id, 'FunctionName');
      case 'AWS::CodeBuild::Project':
        return named(id, 'Name');
      case 'AWS::StepFunctions::StateMachine':
        return `arn:aws:states:${region}:${account}:stateMachine:${named(id, 'StateMachineName')}`;
      case 'AWS::SNS::Topic':
        return `arn:aws:sns:${region}:${account}:${named(id, 'TopicName')}`;
      case 'AWS::KMS::Key':
        return `00000000-0000-4000-8000-${id.length.toString().padStart(12, '0')}`;
      case 'AWS::S3::Bucket':
        return named(id, 'BucketName', `stack-${id.toLowerCase()}`);
      case 'AWS::IAM::Role':
        return named(id, 'RoleName', id);
      case 'AWS::Logs::LogGroup':
        return named(id, 'LogGroupName');
      case 'AWS::Lambda::LayerVersion':
        return `arn:aws:lambda:${region}:${account}:layer:${named(id, 'LayerName')}:1`;
      default:
        return `stack-${id}`;
    }
  };
  const getAtt = (id: string, attribute: string): string => {
    const type = template.Resources[id]?.Type;
    const name = () => ref(id);
    const arns: Record<string, () => string> = {
      'AWS::Lambda::Function.Arn': () => `arn:aws:lambda:${region}:${account}:function:${name()}`,
      'AWS::CodeBuild::Project.Arn': () => `arn:aws:codebuild:${region}:${account}:project/${name()}`,
      'AWS::StepFunctions::StateMachine.Arn': name,
      'AWS::StepFunctions::StateMachine.Name': () => named(id, 'StateMachineName'),
      'AWS::SNS::Topic.TopicArn': name,
      'AWS::SNS::Topic.TopicName': () => named(id, 'TopicName'),
      'AWS::KMS::Key.Arn': () => `arn:aws:kms:${region}:${account}:key/${name()}`,
      'AWS::KMS::Key.KeyId': name,
      'AWS::S3::Bucket.Arn': () => `arn:aws:s3:::${name()}`,
      'AWS::IAM::Role.Arn': () => `arn:aws:iam::${account}:role/${name()}`,
      'AWS::Logs::LogGroup.Arn': () => `arn:aws:logs:${region}:${account}:log-group:${name()}:*`,
    };
    const arn = arns[`${type}.${attribute}`];
    return arn ? arn() : `${id}.${attribute}`;
  };
  const sub = (text: string, variables: Json) =>
    text
      .replace(/\$\{([^}!][^}]*)\}/g, (_, raw: string) => {
        const name = raw.trim();
        if (name in variables) return String(resolve(variables[name]));
        const dot = name.indexOf('.');
        return dot < 0 ? ref(name) : getAtt(name.slice(0, dot), name.slice(dot + 1));
      })
      .replace(/\$\{!/g, '${');
  const resolve = (node: unknown): unknown => {
    if (Array.isArray(node)) return node.map(resolve);
    if (!isObject(node)) return node;
    const fn = intrinsicOf(node);
    const argument = fn ? node[fn] : undefined;
    switch (fn) {
      case undefined:
        return Object.fromEntries(Object.entries(node).map(([key, value]) => [key, resolve(value)]));
      case 'Ref':
        return ref(String(argument));
      case 'Fn::GetAtt': {
        const [id, attribute] =
          typeof argument === 'string' ? argument.split(/\.(.*)/s) : (argument as string[]);
        return getAtt(String(id), String(attribute));
      }
      case 'Fn::Sub': {
        const [text, variables] =
          typeof argument === 'string' ? [argument, {}] : (argument as [string, Json]);
        return sub(text, variables);
      }
      case 'Fn::Join': {
        const [separator, items] = argument as [string, unknown];
        return (resolve(items) as unknown[]).join(separator);
      }
      case 'Fn::Select': {
        const [index, items] = argument as [unknown, unknown];
        return (resolve(items) as unknown[])[Number(resolve(index))];
      }
      case 'Fn::Split': {
        const [separator, text] = argument as [string, unknown];
        return String(resolve(text)).split(separator);
      }
      default:
        throw new Error(`${fn} cannot be resolved offline`);
    }
  };
  return resolve;
}

interface TaskState {
  Type: 'Task';
  Resource: string;
  Parameters?: Json;
  Arguments?: Json;
}

/** Every Task state of a definition, with its path, inside Parallel branches and Map processors too. */
function tasksOf(
  states: Record<string, Json>,
  where: string,
): { where: string; name: string; task: TaskState }[] {
  return Object.entries(states).flatMap(([name, state]) => {
    const here = `${where}.${name}`;
    if (state.Type === 'Task') return [{ where: here, name, task: state as unknown as TaskState }];
    if (state.Type === 'Parallel') {
      return (state.Branches as { States: Record<string, Json> }[]).flatMap((branch, index) =>
        tasksOf(branch.States, `${here}.Branches[${index}]`),
      );
    }
    if (state.Type === 'Map') {
      const processor = (state.ItemProcessor ?? state.Iterator) as { States: Record<string, Json> };
      return tasksOf(processor.States, `${here}.ItemProcessor`);
    }
    return [];
  });
}

interface Permission {
  action: string;
  resource: string;
}

/**
 * What AWS documents a state machine's role needs for one Task, by integration pattern:
 * - a Lambda function ARN or lambda:invoke: lambda:InvokeFunction on the function
 *   (https://docs.aws.amazon.com/step-functions/latest/dg/lambda-iam.html);
 * - codebuild:startBuild.sync: codebuild:StartBuild, StopBuild and BatchGetBuilds on the project, and
 *   events:PutTargets, PutRule and DescribeRule on the managed rule
 *   StepFunctionsGetEventForCodeBuildStartBuildRule
 *   (https://docs.aws.amazon.com/step-functions/latest/dg/codebuild-iam.html);
 * - states:startExecution.sync(:2): states:StartExecution on the state machine, DescribeExecution and
 *   StopExecution on its executions, and events:PutTargets, PutRule and DescribeRule on the managed
 *   rule StepFunctionsGetEventsForStepFunctionsExecutionRule
 *   (https://docs.aws.amazon.com/step-functions/latest/dg/stepfunctions-iam.html);
 * - sns:publish: sns:Publish on the topic (https://docs.aws.amazon.com/step-functions/latest/dg/sns-iam.html)
 *   and, when the topic is encrypted with a KMS key, kms:GenerateDataKey and kms:Decrypt on that key
 *   (https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html, "the publisher must have the
 *   kms:GenerateDataKey* and kms:Decrypt permissions");
 * - aws-sdk:<service>:<action>: the IAM action <service>:<Action>
 *   (https://docs.aws.amazon.com/step-functions/latest/dg/supported-services-awssdk.html).
 * A pattern not listed here is a finding of its own: the check must learn it before it can pass.
 */
function taskPermissions(
  task: TaskState,
  template: Template,
  resolve: (node: unknown) => unknown,
): Permission[] | { unknown: string } | { anyResource: string } {
  const parameters = (task.Parameters ?? task.Arguments ?? {}) as Json;
  const parameter = (name: string): string | undefined => {
    const value = parameters[name];
    return typeof value === 'string' ? value : undefined;
  };
  const [, integration = ''] = /^arn:aws:states:::(.+)$/.exec(task.Resource) ?? [];
  const pattern = integration.replace(/\.waitForTaskToken$/, '');
  const on = (resource: string, ...actions: string[]) => actions.map((action) => ({ action, resource }));
  const rule = (name: string) => `arn:aws:events:${region}:${account}:rule/${name}`;
  if (/^arn:aws:lambda:/.test(task.Resource)) return on(task.Resource, 'lambda:InvokeFunction');
  if (pattern === 'lambda:invoke') {
    const name = parameter('FunctionName');
    if (!name) return { anyResource: 'lambda:InvokeFunction' };
    const arn = name.startsWith('arn:') ? name : `arn:aws:lambda:${region}:${account}:function:${name}`;
    return on(arn, 'lambda:InvokeFunction');
  }
  if (pattern === 'codebuild:startBuild' || pattern === 'codebuild:startBuild.sync') {
    const project = parameter('ProjectName');
    if (!project) return { anyResource: 'codebuild:StartBuild' };
    const arn = project.startsWith('arn:')
      ? project
      : `arn:aws:codebuild:${region}:${account}:project/${project}`;
    if (pattern === 'codebuild:startBuild') return on(arn, 'codebuild:StartBuild');
    return [
      ...on(arn, 'codebuild:StartBuild', 'codebuild:StopBuild', 'codebuild:BatchGetBuilds'),
      ...on(
        rule('StepFunctionsGetEventForCodeBuildStartBuildRule'),
        'events:PutTargets',
        'events:PutRule',
        'events:DescribeRule',
      ),
    ];
  }
  if (/^states:startExecution(\.sync(:2)?)?$/.test(pattern)) {
    const machine = parameter('StateMachineArn');
    if (!machine) return { anyResource: 'states:StartExecution' };
    if (pattern === 'states:startExecution') return on(machine, 'states:StartExecution');
    const execution = `${machine.replace(':stateMachine:', ':execution:')}:an-execution`;
    return [
      ...on(machine, 'states:StartExecution'),
      ...on(execution, 'states:DescribeExecution', 'states:StopExecution'),
      ...on(
        rule('StepFunctionsGetEventsForStepFunctionsExecutionRule'),
        'events:PutTargets',
        'events:PutRule',
        'events:DescribeRule',
      ),
    ];
  }
  if (pattern === 'sns:publish') {
    const topic = parameter('TopicArn');
    if (!topic) return { anyResource: 'sns:Publish' };
    const topicResource = Object.entries(template.Resources).find(
      ([id, resource]) => resource.Type === 'AWS::SNS::Topic' && resolve({ Ref: id }) === topic,
    )?.[1];
    const key = topicResource?.Properties?.KmsMasterKeyId;
    const keyArn = key === undefined ? undefined : String(resolve(key));
    return [
      ...on(topic, 'sns:Publish'),
      // The AWS managed key alias/aws/sns takes no grant of the publisher's.
      ...(keyArn && keyArn !== 'alias/aws/sns'
        ? on(
            keyArn.startsWith('arn:') ? keyArn : `arn:aws:kms:${region}:${account}:key/${keyArn}`,
            'kms:GenerateDataKey',
            'kms:Decrypt',
          )
        : []),
    ];
  }
  const sdk = /^aws-sdk:([a-z0-9]+):([a-zA-Z0-9]+)$/.exec(pattern);
  if (sdk) return { anyResource: `${sdk[1]}:${(sdk[2] ?? '')[0]?.toUpperCase()}${(sdk[2] ?? '').slice(1)}` };
  return { unknown: task.Resource };
}

/** Whether an IAM action pattern of a statement (wildcards allowed) covers an action. */
function actionMatches(pattern: string, action: string): boolean {
  const regex = new RegExp(
    `^${pattern
      .replace(/[.+^${}()|[\]\\]/g, '\\$&')
      .replace(/\*/g, '.*')
      .replace(/\?/g, '.')}$`,
    'i',
  );
  return regex.test(action);
}

/**
 * KMS decides with the key's own policy too. A key of the template has its KeyPolicy (or, without one,
 * the default that leaves the decision to the account's IAM policies); an existing key is assumed to
 * have that default, as docs/deploy.md asks of it.
 */
function keyPolicyOf(keyArn: string, template: Template, resolve: (node: unknown) => unknown): Json {
  const delegateToIam = {
    Version: '2012-10-17',
    Statement: [
      { Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${account}:root` }, Action: 'kms:*', Resource: '*' },
    ],
  };
  const key = Object.entries(template.Resources).find(
    ([id, resource]) =>
      resource.Type === 'AWS::KMS::Key' && resolve({ 'Fn::GetAtt': [id, 'Arn'] }) === keyArn,
  )?.[1];
  const policy = key?.Properties?.KeyPolicy;
  return policy === undefined ? delegateToIam : (resolve(policy) as Json);
}

async function allowed(
  roleId: string,
  document: Json,
  permission: Permission,
  resourcePolicy: Json | undefined,
): Promise<string> {
  const response = await runSimulation(
    {
      request: {
        principal: `arn:aws:iam::${account}:role/${roleId}`,
        action: permission.action,
        resource: { resource: permission.resource, accountId: account },
        contextVariables: {},
      },
      identityPolicies: [{ name: roleId, policy: document }],
      serviceControlPolicies: [],
      resourceControlPolicies: [],
      ...(resourcePolicy ? { resourcePolicy } : {}),
    },
    {},
  );
  if (response.resultType === 'error') return `not evaluable: ${JSON.stringify(response.errors)}`;
  return response.overallResult;
}

/**
 * For every Task of every state machine in the template (as deployed: conditions evaluated), whether
 * the machine's role grants what AWS documents for the Task's integration pattern; with the Tasks it
 * checked. The role's inline policies count, and for KMS the key policy (keyPolicyOf).
 */
export async function integrationCheck(
  template: Template,
): Promise<{ findings: Finding[]; checked: { machine: string; state: string }[] }> {
  let deployed: Template;
  try {
    deployed = deployedTemplate(template, evaluateConditions(template));
  } catch (error) {
    if (!(error instanceof NotEvaluable)) throw error;
    return {
      findings: [{ check: 'condition-not-evaluable', where: 'Conditions', message: error.message }],
      checked: [],
    };
  }
  const resolve = concreteResolver(deployed);
  const findings: Finding[] = [];
  const checked: { machine: string; state: string }[] = [];
  for (const [machineId, machine] of Object.entries(deployed.Resources)) {
    if (machine.Type !== 'AWS::StepFunctions::StateMachine') continue;
    const properties = machine.Properties ?? {};
    const where = `Resources.${machineId}`;
    const roleId = referencesIn(properties.RoleArn, '').find(
      (reference) => reference.kind === 'getatt',
    )?.target;
    const role = roleId ? deployed.Resources[roleId] : undefined;
    if (!roleId || role?.Type !== 'AWS::IAM::Role') {
      findings.push({
        check: 'missing-integration-permission',
        where: `${where}.Properties.RoleArn`,
        message: 'the role is not a role of this template, so its grants cannot be checked',
      });
      continue;
    }
    const policies = resolve(role.Properties?.Policies ?? []) as { PolicyDocument: { Statement: Json[] } }[];
    const document = {
      Version: '2012-10-17',
      Statement: policies.flatMap((p) => p.PolicyDocument.Statement),
    };
    const substitutions = resolve(properties.DefinitionSubstitutions ?? {}) as Json;
    const text =
      properties.Definition !== undefined
        ? JSON.stringify(resolve(properties.Definition))
        : String(resolve(properties.DefinitionString));
    const definition = JSON.parse(
      text.replace(/\$\{([^}]+)\}/g, (whole, name: string) =>
        name in substitutions ? String(substitutions[name]) : whole,
      ),
    ) as { States: Record<string, Json> };
    for (const { where: state, name, task } of tasksOf(definition.States, `${where}.States`)) {
      checked.push({ machine: machineId, state: name });
      const needed = taskPermissions(task, deployed, resolve);
      if ('unknown' in needed) {
        findings.push({
          check: 'unknown-task-pattern',
          where: state,
          message: `${needed.unknown}: no documented permissions known for this integration`,
        });
        continue;
      }
      if ('anyResource' in needed) {
        const named = document.Statement.some(
          (statement) =>
            statement.Effect === 'Allow' &&
            [statement.Action].flat().some((action) => actionMatches(String(action), needed.anyResource)),
        );
        if (!named) {
          findings.push({
            check: 'missing-integration-permission',
            where: state,
            message: `${roleId} does not grant ${needed.anyResource}, which ${task.Resource} needs`,
          });
        }
        continue;
      }
      for (const permission of needed) {
        const keyPolicy = permission.resource.startsWith('arn:aws:kms:')
          ? keyPolicyOf(permission.resource, deployed, resolve)
          : undefined;
        const result = await allowed(roleId, document, permission, keyPolicy);
        if (result === 'Allowed') continue;
        findings.push({
          check: 'missing-integration-permission',
          where: state,
          message: `${roleId} does not grant ${permission.action} on ${permission.resource}, which ${task.Resource} needs (${result})`,
        });
      }
    }
  }
  return { findings, checked };
}
