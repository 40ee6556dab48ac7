/**
 * The built-in demo site: a page that loads a stylesheet, a script, an image and JSON, and shows
 * which connection served each request and its index on that connection — the seed's point
 * (one TCP connection, many requests) with real numbers. Every response here carries
 * X-Holdfast-Connection / X-Holdfast-Request; that is a demo feature, not a server default.
 */

import type { Handler, HttpResponse } from '../handlers/types.js';

const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>holdfast demo</title>
<link rel="stylesheet" href="/style.css">
</head>
<body>
<h1>holdfast</h1>
<p>Each resource below was fetched from this server. The table shows which TCP connection served it
and the index of that request on its connection. Reload: with keep-alive the same connections are
re-used and the request index grows.</p>
<img src="/logo.svg" alt="logo" width="64" height="64">
<table id="served"><thead><tr><th>resource</th><th>connection</th><th>request #</th></tr></thead><tbody></tbody></table>
<script src="/script.js"></script>
</body>
</html>
`;

const STYLE = `body { font-family: system-ui, sans-serif; margin: 2rem; max-width: 48rem; }
table { border-collapse: collapse; } td, th { border: 1px solid #ccc; padding: .3rem .8rem; }
`;

const SCRIPT = `(async () => {
  const rows = document.querySelector('#served tbody');
  for (const path of ['/style.css', '/script.js', '/logo.svg', '/data.json']) {
    const res = await fetch(path, { cache: 'no-store' });
    await res.arrayBuffer();
    const tr = document.createElement('tr');
    for (const text of [path, res.headers.get('x-holdfast-connection'), res.headers.get('x-holdfast-request')]) {
      const td = document.createElement('td');
      td.textContent = text;
      tr.appendChild(td);
    }
    rows.appendChild(tr);
  }
})();
`;

const LOGO = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 64 64"><circle cx="32" cy="32" r="28" fill="#2a6"/><path d="M20 32h24M32 20v24" stroke="#fff" stroke-width="6"/></svg>`;

const FILES: Record<string, [string, string]> = {
  '/': ['text/html; charset=utf-8', PAGE],
  '/index.html': ['text/html; charset=utf-8', PAGE],
  '/style.css': ['text/css; charset=utf-8', STYLE],
  '/script.js': ['text/javascript; charset=utf-8', SCRIPT],
  '/logo.svg': ['image/svg+xml', LOGO],
};

export const demoHandler: Handler = (req): HttpResponse => {
  const served = { 'x-holdfast-connection': String(req.connection.id), 'x-holdfast-request': String(req.connection.requestIndex) };
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    return { status: 405, headers: { allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8' }, body: '405 Method Not Allowed\n' };
  }
  if (req.path === '/data.json') {
    const body = JSON.stringify({ connection: req.connection.id, request: req.connection.requestIndex, time: new Date().toISOString() });
    return { status: 200, headers: { 'content-type': 'application/json', 'cache-control': 'no-store', ...served }, body };
  }
  const file = FILES[req.path];
  if (file === undefined) return { status: 404, headers: { 'content-type': 'text/plain; charset=utf-8', ...served }, body: '404 Not Found\n' };
  return { status: 200, headers: { 'content-type': file[0], 'cache-control': 'no-cache', ...served }, body: file[1] };
};
