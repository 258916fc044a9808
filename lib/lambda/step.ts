/**
 * A step's contract with the state machine, declared once in the step's own file:
 *
 *   export const promoteStep = defineStep({
 *     event: 'Promote step event',
 *     input: backupIdEventSchema,
 *     output: promotedSchema,
 *     scope: (input) => input.target,
 *     run: (input, { runtime }) => promoteToVault(input.backupId, runtime.store),
 *   });
 *
 * - `input` is what the Task state's Parameters hand the step; it is parsed at the edge (an
 *   InputValidationError naming the field), so `run` gets a typed value and re-declares nothing.
 * - `output` is what the step answers, which the state machine puts at the state's ResultPath. The
 *   compiler holds `run` to it; readers of the output (the next step's input, the Task table's key
 *   figures, the CLI's summaries) take their types from it (`OutputOf<typeof promoteStep>`).
 * - `scope` names the database the step works on; `run` then gets the runtime of that database's vault
 *   and connection (lib/backup/databases.ts forDatabase).
 *
 * test/unit/statemachines/contracts.test.ts walks every state machine's data flow (Parameters,
 * ResultPath, OutputPath, Choice variables, Map items, intrinsic arguments) against these contracts: a
 * state that reads a field no earlier state writes, or hands a step a field its input does not take,
 * fails it. Where outputs are checked at run time (`checkOutputs`: the local runner and the tests), a
 * step whose answer breaks its own contract fails with StepContractError.
 */
import type { z } from 'zod';
import { type DatabaseTarget, forDatabase } from '../backup/databases.ts';
import { StepContractError } from '../errors.ts';
import { parseInput } from '../steps/input.ts';
import type { Step, StepContext } from './handler.ts';

export interface StepContract<Input extends z.ZodType, Output extends z.ZodType> {
  /** How an input fault names the event: `Dump step event: field "target.database" ...`. */
  event: string;
  input: Input;
  output: Output;
}

export interface StepDefinition<Input extends z.ZodType, Output extends z.ZodType>
  extends StepContract<Input, Output> {
  scope?: (input: z.output<Input>) => DatabaseTarget | undefined;
  /** `context.runtime` is the database's that `scope` names, else the stage's. */
  run: (input: z.output<Input>, context: StepContext) => Promise<z.input<Output>>;
}

export type DefinedStep<Input extends z.ZodType, Output extends z.ZodType> = Step<z.input<Output>> & {
  readonly contract: StepContract<Input, Output>;
};

/** What a defined step answers: the type every reader of its output takes. */
export type OutputOf<S> = S extends { contract: StepContract<z.ZodType, infer Output> }
  ? z.output<Output>
  : never;

/** A step whose contract's output was broken: a wiring fault of our own code, never of the data. */
function outputFault(event: string, error: z.ZodError): StepContractError {
  const issue = error.issues[0];
  const field = (issue?.path ?? []).join('.') || '(root)';
  return new StepContractError(
    `${event.replace(/ event$/, '')} answered outside its contract: field "${field}" ${issue?.message ?? 'is invalid'}`,
    { details: { field } },
  );
}

export function defineStep<Input extends z.ZodType, Output extends z.ZodType>(
  definition: StepDefinition<Input, Output>,
): DefinedStep<Input, Output> {
  const { event: what, input: inputSchema, output, scope, run } = definition;
  const step = async (event: unknown, context: StepContext): Promise<z.input<Output>> => {
    const input: z.output<Input> = parseInput(inputSchema, event, what);
    const target = scope?.(input);
    const runtime = target ? forDatabase(context.runtime, target) : context.runtime;
    const result = await run(input, { ...context, runtime });
    if (context.checkOutputs) {
      const checked = output.safeParse(result);
      if (!checked.success) throw outputFault(what, checked.error);
    }
    // The answer itself, not the parsed copy: parsing strips what a schema does not list, and an
    // older reader of the history may still look for it.
    return result;
  };
  return Object.assign(step, { contract: { event: what, input: inputSchema, output } });
}
