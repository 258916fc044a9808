/**
 * backupctl's exit codes, as README and the runbook document them. An interrupted run exits as a shell
 * reports the signal (128 + its number): 130 for Ctrl-C (SIGINT), 143 for `kill` (SIGTERM).
 */
export const exitCodes = {
  ok: 0,
  failed: 1,
  usage: 2,
  verificationFailed: 3,
  interrupted: 130,
  terminated: 143,
} as const;

/** What each code means, for the help pages and README's table (`npm run docs:cli`). */
export const exitCodeMeanings: Record<keyof typeof exitCodes, string> = {
  ok: 'ok',
  failed: 'failed (for status: no verified backup within the RPO)',
  usage: 'usage or configuration error (an unknown or missing option, a bad id, a config mistake)',
  verificationFailed: 'verification failed (checksum, archive, row counts or content)',
  interrupted:
    'Ctrl-C: a local run stopped where it was (audit lists it); with --stage only the following stopped',
  terminated: 'kill (SIGTERM): a local run stopped where it was (audit lists it)',
};

/** `0 ok`, `1 failed (...)`, ... in the codes' order. */
export const exitCodeLines: string[] = (Object.keys(exitCodes) as (keyof typeof exitCodes)[]).map(
  (name) => `${exitCodes[name]} ${exitCodeMeanings[name]}`,
);
