/**
 * `tryFiles(files, next)`: serve a file when there is one, else hand the request on — nginx's
 * `try_files $uri @app`. GET and HEAD go to `files` first and to `next` when it answers 404; any
 * other method goes straight to `next` (a file handler only reads). The 404 (serveStatic's is a
 * short text) is dropped.
 */

import type { Handler, HttpResponse } from './types.js';

export function tryFiles(files: Handler, next: Handler): Handler {
  return async (req) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return next(req);
    const response: HttpResponse = await files(req);
    return response.status === 404 ? next(req) : response;
  };
}
