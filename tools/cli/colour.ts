/**
 * Colour for what backupctl prints on stdout, through node:util `styleText` with stdout as its stream:
 * it leaves the text plain when stdout is not a terminal (a pipe, a file, CI) or NO_COLOR is set, and
 * colours it when FORCE_COLOR asks, whatever stdout is. --json output is never coloured.
 */
import { styleText } from 'node:util';

type Style = Parameters<typeof styleText>[0];

/** `text` in `style` where colour is wanted, else `text` itself. */
export type Paint = (style: Style, text: string) => string;

export function painter(enabled: boolean, stream: NodeJS.WriteStream = process.stdout): Paint {
  return enabled ? (style, text) => styleText(style, text, { stream }) : (_style, text) => text;
}

export const plain: Paint = (_style, text) => text;

/** The marks of state and check lines: ✔ green, ✘ red, ↻ (a retry) yellow, – (skipped) dim. */
export function paintMark(paint: Paint, mark: string): string {
  const style: Style | undefined = { '✔': 'green', '✘': 'red', '↻': 'yellow', '–': 'dim' }[mark] as
    | Style
    | undefined;
  return style ? paint(style, mark) : mark;
}
