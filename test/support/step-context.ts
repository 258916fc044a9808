/** What a step receives when a test calls it directly, without the handler around it. */
import type { StepContext } from '../../lib/lambda/handler.ts';
import { createLogger } from '../../lib/logging.ts';
import type { Runtime } from '../../lib/runtime.ts';

export function stepContext(runtime: Runtime, lines: string[] = []): StepContext {
  const sink = (line: string) => void lines.push(line);
  return {
    runtime,
    signal: new AbortController().signal,
    logger: createLogger(sink),
    sink,
    checkOutputs: true,
  };
}
