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
