/**
 * viaFetch(handler): the same behaviour as a holdfast Handler, served through fetchHandler — the
 * native handler is wrapped as a fetch app (Request → HttpRequest, HttpResponse → Response), so a
 * test written for native handlers exercises the fetch path. test/helpers/server.ts applies it to
 * every handler when HOLDFAST_TEST_HANDLER=fetch.
 */

import { fetchHandler, HeaderMap, HttpError, type FetchInfo, type Handler, type HttpRequest, type HttpResponse, type RequestBody } from '../../src/index.js';

function requestBody(request: Request): RequestBody {
  const chunks = async function* (): AsyncGenerator<Uint8Array> {
    if (request.body === null) return;
    const reader = request.body.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      yield value;
    }
  };
  const bytes = async (): Promise<Uint8Array> => new Uint8Array(await request.arrayBuffer());
  return {
    [Symbol.asyncIterator]: () => chunks()[Symbol.asyncIterator](),
    bytes,
    text: () => request.text(),
    trailers: null,
    json: async () => {
      const text = await request.text();
      try {
        return JSON.parse(text) as unknown;
      } catch {
        throw new HttpError(400, 'request body is not valid JSON');
      }
    },
  };
}

function nativeRequest(request: Request, info: FetchInfo): HttpRequest {
  const url = new URL(request.url);
  const fields: string[] = [];
  for (const [name, value] of request.headers) fields.push(name, value);
  return {
    method: request.method,
    target: url.pathname + url.search,
    path: url.pathname,
    query: url.search.slice(1),
    scheme: url.protocol === 'https:' ? 'https' : 'http',
    version: '1.1',
    headers: new HeaderMap(fields),
    connection: { id: info.connectionId, tls: url.protocol === 'https:', requestIndex: info.requestIndex, remoteAddress: info.remoteAddress, remotePort: info.remotePort },
    body: requestBody(request),
    signal: request.signal,
  };
}

function fetchResponse(response: HttpResponse): Response {
  const headers: Array<[string, string]> = [];
  for (const [name, value] of Object.entries(response.headers ?? {})) {
    if (value === undefined) continue;
    if (Array.isArray(value)) for (const line of value) headers.push([name, line]);
    else headers.push([name, String(value)]);
  }
  const body = response.body;
  const status = response.status;
  const bodiless = status === 204 || status === 205 || status === 304;
  if (bodiless || body === null || body === undefined) return new Response(null, { status, headers });
  if (typeof body === 'string' || body instanceof Uint8Array) return new Response(body, { status, headers });
  const iterable = body as AsyncIterable<Uint8Array | string>;
  const stream = new ReadableStream<Uint8Array>({
    async start(controller) {
      for await (const chunk of iterable) controller.enqueue(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
      controller.close();
    },
  });
  return new Response(stream, { status, headers });
}

export function viaFetch(handler: Handler): Handler {
  return fetchHandler(async (request, info) => fetchResponse(await handler(nativeRequest(request, info))));
}
