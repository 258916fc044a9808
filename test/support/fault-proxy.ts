/**
 * A fault-injecting HTTP proxy in front of the local S3 API. Point AWS_ENDPOINT_URL_S3 at `endpoint` and
 * tell it what to break: answer the Nth matching request with a 5xx, hold it until the test lets it go
 * (or its client gives up), reset its connection, or refuse everything (the store is down). Everything else is
 * forwarded unchanged, so the faults are the ones a client of S3 really sees, whatever uploader sits on
 * the other side.
 *
 * `hold` is the proxy's pause point: a test waits for `whenHeld()` (the request has arrived, so the
 * client is observably at that point of its work), does what it must while the client waits, then
 * `release()`s it. Nothing there depends on how fast the machine is.
 */
import { createServer, type IncomingMessage, request, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

/** The S3 operations faults are aimed at, recognised from method and query. */
export type S3Operation =
  | 'CreateMultipartUpload'
  | 'UploadPart'
  | 'CompleteMultipartUpload'
  | 'AbortMultipartUpload'
  | 'CopyObject'
  | 'PutObject'
  | 'GetObject'
  | 'HeadObject'
  | 'Other';

export type FaultAction =
  | { kind: 'status'; status: 500 | 503 }
  /** Holds the request until `release()` (or until its client gives up and closes the socket). */
  | { kind: 'hold' }
  /** Destroys the client's socket without an answer (ECONNRESET / socket hang up). */
  | { kind: 'reset' };

export interface FaultRule {
  operation: S3Operation | 'any';
  /** Only requests whose path (bucket and key) matches; every path when absent. */
  path?: RegExp;
  /** The first matching request (1-based) that gets the fault. */
  nth: number;
  /** How many matching requests from the nth on get it; Infinity = every one until cleared. */
  times: number;
  action: FaultAction;
}

export interface FaultProxy {
  readonly endpoint: string;
  /** Adds a rule; counting of matching requests starts now. */
  inject(rule: FaultRule): void;
  /** Every request answered with an injected fault, by operation, in order. */
  readonly injected: { operation: S3Operation; action: FaultAction['kind'] }[];
  /** Requests seen by operation (faulted or forwarded). */
  count(operation: S3Operation): number;
  /**
   * Resolves once a request is held by a `hold` rule (at once if one is held now), with its operation;
   * rejects when `signal` fires first (the run ended without reaching the held request).
   */
  whenHeld(signal?: AbortSignal): Promise<S3Operation>;
  /** Forwards every request held now; later matches of a `hold` rule are held again. */
  release(): void;
  /** Refuses every connection (the store is down) until `up()`. */
  down(): void;
  up(): void;
  /** Drops all rules, counters and held requests (their connections are closed). */
  clear(): void;
  stop(): Promise<void>;
}

export function s3Operation(method: string, url: string, headers: IncomingMessage['headers']): S3Operation {
  const { pathname, searchParams } = new URL(url, 'http://proxy');
  const hasKey = pathname.split('/').filter(Boolean).length > 1;
  if (!hasKey) return 'Other';
  if (method === 'POST' && searchParams.has('uploads')) return 'CreateMultipartUpload';
  if (method === 'POST' && searchParams.has('uploadId')) return 'CompleteMultipartUpload';
  if (method === 'DELETE' && searchParams.has('uploadId')) return 'AbortMultipartUpload';
  if (method === 'PUT' && searchParams.has('uploadId') && !headers['x-amz-copy-source']) return 'UploadPart';
  if (method === 'PUT' && headers['x-amz-copy-source']) return 'CopyObject';
  if (method === 'PUT' && !searchParams.has('tagging')) return 'PutObject';
  // The SDK names the operation in an `x-id` parameter; a GET with any other parameter is not GetObject.
  if (method === 'GET' && [...searchParams.keys()].every((name) => name === 'x-id')) return 'GetObject';
  if (method === 'HEAD') return 'HeadObject';
  return 'Other';
}

const errorBody = (status: number) =>
  `<?xml version="1.0" encoding="UTF-8"?><Error><Code>${status === 503 ? 'SlowDown' : 'InternalError'}</Code><Message>injected by the fault proxy</Message></Error>`;

export async function startFaultProxy(target: string): Promise<FaultProxy> {
  const targetUrl = new URL(target);
  let rules: { rule: FaultRule; seen: number }[] = [];
  const counts = new Map<S3Operation, number>();
  const injected: FaultProxy['injected'] = [];
  const sockets = new Set<Socket>();
  let isDown = false;
  const held: { operation: S3Operation; forward: () => void; drop: () => void }[] = [];
  let heldWaiters: ((operation: S3Operation) => void)[] = [];

  const forward = (req: IncomingMessage, res: ServerResponse) => {
    const upstream = request(
      {
        host: targetUrl.hostname,
        port: targetUrl.port,
        method: req.method,
        path: req.url,
        headers: req.headers,
      },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  };

  const server: Server = createServer((req, res) => {
    const operation = s3Operation(req.method ?? 'GET', req.url ?? '/', req.headers);
    counts.set(operation, (counts.get(operation) ?? 0) + 1);
    let action: FaultAction | undefined;
    const path = new URL(req.url ?? '/', 'http://proxy').pathname;
    for (const entry of rules) {
      if (entry.rule.operation !== 'any' && entry.rule.operation !== operation) continue;
      if (entry.rule.path && !entry.rule.path.test(path)) continue;
      entry.seen += 1;
      const { nth, times } = entry.rule;
      if (!action && entry.seen >= nth && entry.seen < nth + times) action = entry.rule.action;
    }
    if (!action) return forward(req, res);
    injected.push({ operation, action: action.kind });
    if (action.kind === 'reset') {
      req.socket.destroy();
      return;
    }
    if (action.kind === 'status') {
      req.resume();
      res.writeHead(action.status, { 'content-type': 'application/xml', connection: 'close' });
      res.end(errorBody(action.status));
      return;
    }
    // A held answer: the body waits in the socket's buffers, the response comes late or never.
    req.pause();
    held.push({
      operation,
      forward: () => {
        if (req.socket.destroyed) return;
        req.resume();
        forward(req, res);
      },
      drop: () => req.socket.destroy(),
    });
    for (const waiter of heldWaiters.splice(0)) waiter(operation);
  });
  server.on('connection', (socket) => {
    if (isDown) {
      socket.destroy();
      return;
    }
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolveListen) => server.listen(0, '127.0.0.1', resolveListen));
  const address = server.address();
  const port = address && typeof address === 'object' ? address.port : 0;

  return {
    endpoint: `http://127.0.0.1:${port}`,
    injected,
    inject(rule) {
      rules.push({ rule, seen: 0 });
    },
    count: (operation) => counts.get(operation) ?? 0,
    whenHeld(signal) {
      const now = held[0];
      if (now) return Promise.resolve(now.operation);
      return new Promise((resolveHeld, rejectHeld) => {
        heldWaiters.push(resolveHeld);
        signal?.addEventListener('abort', () => rejectHeld(new Error(`nothing held: ${signal.reason}`)), {
          once: true,
        });
      });
    },
    release() {
      for (const request of held.splice(0)) request.forward();
    },
    down() {
      isDown = true;
      for (const socket of sockets) socket.destroy();
    },
    up() {
      isDown = false;
    },
    clear() {
      // What a test left held is dropped, not forwarded: its client has moved on.
      for (const request of held.splice(0)) request.drop();
      heldWaiters = [];
      rules = [];
      counts.clear();
      injected.length = 0;
      isDown = false;
    },
    async stop() {
      for (const request of held.splice(0)) request.drop();
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolveClose) => server.close(() => resolveClose()));
    },
  };
}
