/**
 * aws-sdk-client-mock as the tests import it (jest.config.js maps the module here): the same
 * `mockClient`, whose stubbed `send` first checks the request against the caller's role
 * (./enforce.ts), so the requests of mocked SNS, Secrets Manager and Step Functions clients are
 * checked like those that reach the local S3 API. The stub is wrapped in a Proxy, so sinon still
 * sees its own stub (to restore it), and wrapped again after `reset()`, which stubs anew.
 */
import type * as Mock from 'aws-sdk-client-mock';
import { checkRequest } from './enforce.ts';

// The package itself, by path: its name maps to this module under jest.
const realModule = '../../../node_modules/aws-sdk-client-mock/dist/es/index.js';
const real = (await import(realModule)) as typeof Mock;

export type { AwsStub } from 'aws-sdk-client-mock';

type Send = (...args: unknown[]) => Promise<unknown>;

function checkSends(target: { send: Send }): void {
  target.send = new Proxy(target.send, {
    apply: (send, client: object, args: unknown[]) =>
      checkRequest(client, args[0]).then(() => Reflect.apply(send, client, args)),
  });
}

const stubPrototype = real.AwsStub.prototype as unknown as {
  reset(this: { client: { send: Send } }): unknown;
};
const reset = stubPrototype.reset;
stubPrototype.reset = function checkedReset(this: { client: { send: Send } }) {
  const result = reset.call(this);
  checkSends(this.client);
  return result;
};

export const mockClient: typeof Mock.mockClient = (client, options) => {
  const stub = real.mockClient(client, options);
  checkSends((stub as unknown as { client: { send: Send } }).client);
  return stub;
};
