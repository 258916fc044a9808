/**
 * A local HTTPS server that answers like Render's public API (shapes from its API reference, see
 * docs/render-api.md): `GET /v1/postgres/{id}` -> the instance, `/recovery` -> {recoveryStatus,
 * startsAt}, `/export` -> [{id, createdAt, url}]; errors as {id, message}; a wrong key is 401, an id
 * it does not know 404. `faults` are answered first, one per request, to play an outage or a 429.
 * `/exports/<name>?sig=...` stands for the signed download links and serves `download`.
 */
import { type HttpsReceiver, type Reply, startHttpsReceiver } from './https-receiver.ts';

export interface RenderApiState {
  apiKey: string;
  postgresId: string;
  instance: Record<string, unknown>;
  recovery: Reply;
  exports: Reply;
  /** Replies given before anything else, one per request (an outage, a rate limit). */
  faults: Reply[];
  /** What the signed export links (`/exports/...`, any query) serve: the bytes or a refusal. */
  download?: Reply;
}

export interface RenderApi {
  /** The API's base URL, as RENDER_API_URL takes it. */
  baseUrl: string;
  state: RenderApiState;
  receiver: HttpsReceiver;
  /** The paths asked since the last `reset`. */
  paths(): string[];
  reset(state: Partial<RenderApiState>): void;
  stop(): Promise<void>;
}

export const json = (status: number, body: unknown, headers: Record<string, string> = {}): Reply => ({
  status,
  headers: { 'content-type': 'application/json', ...headers },
  body: typeof body === 'string' ? body : JSON.stringify(body),
});

export async function startRenderApi(initial: RenderApiState): Promise<RenderApi> {
  const receiver = await startHttpsReceiver();
  const api: RenderApi = {
    baseUrl: receiver.url('/v1'),
    state: { ...initial },
    receiver,
    paths: () => receiver.requests.map((r) => r.path),
    reset(state) {
      api.state = { ...initial, ...state };
      receiver.requests.length = 0;
    },
    stop: () => receiver.stop(),
  };
  receiver.respond = (request) => {
    const { state } = api;
    const fault = state.faults.shift();
    if (fault) return fault;
    // The signed links: storage behind them takes no API key; the signature is in the query.
    if (request.path.startsWith('/exports/')) return state.download ?? { status: 404 };
    if (request.authorization !== `Bearer ${state.apiKey}`) {
      return json(401, { id: 'unauthorized', message: 'Authorization information is missing or invalid.' });
    }
    const match = /^\/v1\/postgres\/([^/]+)(\/recovery|\/export)?$/.exec(request.path);
    if (!match || match[1] !== state.postgresId) {
      return json(404, { id: 'not_found', message: 'Unable to find the requested resource.' });
    }
    if (match[2] === '/recovery') return state.recovery;
    if (match[2] === '/export') return state.exports;
    return json(200, { id: state.postgresId, ...state.instance });
  };
  return api;
}
