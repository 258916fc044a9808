/** Connections and webhooks from Secrets Manager (mocked at the SDK client: no local server exists). */

import { createServer, type IncomingMessage } from 'node:http';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { afterAll, beforeEach, describe, expect, it } from '@jest/globals';
import { mockClient } from 'aws-sdk-client-mock';
import { publish } from '../../../lib/notify/publish.ts';
import { runtimeFromEnvironment } from '../../../lib/runtime.ts';
import { clearSecretCache, connectionUrlFromSecret } from '../../../lib/secrets.ts';

const secrets = mockClient(SecretsManagerClient);
const baseEnv = { BACKUP_BUCKET: 'backups-test', AWS_REGION: 'eu-west-1' };

beforeEach(() => {
  secrets.reset();
  clearSecretCache();
});
afterAll(() => secrets.restore());

describe('connections from Secrets Manager', () => {
  it('reads an RDS-style JSON secret into a connection', async () => {
    secrets.on(GetSecretValueCommand, { SecretId: 'arn:prod' }).resolves({
      SecretString: JSON.stringify({
        username: 'app',
        password: 'p@ss:w/rd',
        host: 'db.example.invalid',
        port: 6543,
        dbname: 'shop',
      }),
    });
    const runtime = runtimeFromEnvironment({ ...baseEnv, PRODUCTION_DATABASE_SECRET_ARN: 'arn:prod' });

    const connection = await runtime.productionConnection();

    expect(connection).toMatchObject({
      host: 'db.example.invalid',
      port: 6543,
      user: 'app',
      database: 'shop',
      password: 'p@ss:w/rd',
    });
  });

  it('names the setting, not the value, when the secret is not a connection', async () => {
    secrets.on(GetSecretValueCommand).resolves({ SecretString: 'mysql://root:Canary-Secret-99@db/shop' });
    const runtime = runtimeFromEnvironment({ ...baseEnv, STAGING_DATABASE_SECRET_ARN: 'arn:staging' });

    const failure = runtime.stagingConnection();

    await expect(failure).rejects.toThrow('STAGING_DATABASE_SECRET_ARN must start with postgres://');
    await expect(failure).rejects.not.toThrow('Canary-Secret-99');
  });

  it('reports a missing setting by name', async () => {
    await expect(runtimeFromEnvironment(baseEnv).productionConnection()).rejects.toThrow(
      'neither PRODUCTION_DATABASE_URL nor PRODUCTION_DATABASE_SECRET_ARN is set',
    );
  });

  it('accepts a plain URL and {"url"} secrets', () => {
    expect(connectionUrlFromSecret(' postgres://a@b/c ', 'X')).toBe('postgres://a@b/c');
    expect(connectionUrlFromSecret('{"url":"postgres://a@b/c"}', 'X')).toBe('postgres://a@b/c');
    expect(() => connectionUrlFromSecret('{"user":', 'X')).toThrow('X holds malformed JSON');
  });
});

describe('Slack notifications', () => {
  it('posts the message to the webhook and hides the URL when the webhook fails', async () => {
    const received: string[] = [];
    let status = 200;
    const server = createServer((request: IncomingMessage, response) => {
      let body = '';
      request.on('data', (chunk: Buffer) => {
        body += chunk.toString();
      });
      request.on('end', () => {
        received.push(body);
        response.writeHead(status).end();
      });
    });
    await new Promise<void>((listening) => server.listen(0, '127.0.0.1', listening));
    const address = server.address();
    const url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}/services/T000/B000/Canary-Hook`;
    try {
      await publish({ subject: 'Backup verified', text: 'all good' }, { slackWebhookUrl: url });
      expect(JSON.parse(received[0] ?? '{}')).toEqual({ text: '*Backup verified*\nall good' });

      status = 500;
      const failure = publish({ subject: 's', text: 't' }, { slackWebhookUrl: url });
      await expect(failure).rejects.toThrow('Slack webhook answered HTTP 500');
      await expect(failure).rejects.not.toThrow('Canary-Hook');
    } finally {
      server.close();
    }
  });
});

describe('webhook and heartbeat URLs from Secrets Manager', () => {
  it('trims a secret URL, and refuses one that is not https:// by the setting, never the value', async () => {
    secrets.on(GetSecretValueCommand, { SecretId: 'arn:slack' }).resolves({
      SecretString: ' https://hooks.slack.example/services/T0/B0/ok \n',
    });
    secrets.on(GetSecretValueCommand, { SecretId: 'arn:heartbeat' }).resolves({
      SecretString: 'http://hc.example/ping/CANARY-heartbeat',
    });
    const runtime = runtimeFromEnvironment({
      ...baseEnv,
      SLACK_WEBHOOK_SECRET_ARN: 'arn:slack',
      HEARTBEAT_SECRET_ARN: 'arn:heartbeat',
    });

    expect((await runtime.channels('summary')).slackWebhookUrl).toBe(
      'https://hooks.slack.example/services/T0/B0/ok',
    );
    const refused = runtime.heartbeatUrl();
    await expect(refused).rejects.toThrow('HEARTBEAT_SECRET_ARN: must hold an https:// URL');
    await expect(refused).rejects.not.toThrow(/CANARY/);
  });
});
