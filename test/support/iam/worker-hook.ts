/**
 * Loaded into the local worker's child process (`node --import <this>?report=<file>`): every AWS
 * request the worker makes is checked against the worker's role, and each denial is appended to the
 * report file, which the test process reads after each test (./jest-setup.ts).
 */
import { enforceIam } from './enforce.ts';

const report = new URL(import.meta.url).searchParams.get('report') ?? undefined;
const settings = Object.fromEntries(
  Object.entries(process.env).filter((entry): entry is [string, string] => entry[1] !== undefined),
);
enforceIam({ defaultCaller: { principal: 'worker', settings }, ...(report ? { report } : {}) });
