#!/usr/bin/env node
// Runs the TypeScript CLI with Node 22's built-in type stripping (the project pins Node 22).
import { main } from '../tools/cli/main.ts';

process.exitCode = await main(process.argv.slice(2));
