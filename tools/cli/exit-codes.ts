/** backupctl's exit codes, as README and the runbook document them. */
export const exitCodes = { ok: 0, failed: 1, usage: 2, verificationFailed: 3, interrupted: 130 } as const;
