/**
 * `npm run install:node-arm64`: fetches the pinned aarch64 Node 22 the arm64 Lambda sandbox test runs
 * the function zips with (./node-arm64.ts). The test fetches it itself when missing; this only does it
 * ahead of time.
 */
import { arm64Node } from './node-arm64.ts';

console.log(await arm64Node());
