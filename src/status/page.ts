/**
 * The dashboard: one self-contained HTML page (no external assets, no build step) that polls
 * `status.json` every second and draws it — counts by state, rates, reuse, request time, process
 * figures, the keep-alive health counters, close reasons, histograms as inline SVG, and the
 * connection table (sorted by the server, so the order holds across every connection, not just the
 * rows shown). Everything a peer controls (request targets, addresses) reaches the page as text
 * nodes, never as markup. The inline script and style are allowed by their hashes in a strict CSP.
 *
 * A token given as `?token=` is sent as `Authorization: Bearer` on each poll and removed from the
 * address bar at once.
 */

import { createHash } from 'node:crypto';

const STYLE = `
:root { color-scheme: light dark; --fg: #1b1f24; --muted: #5c6670; --bg: #f6f7f9; --card: #fff; --line: #dde1e6; --accent: #1f6feb; --warn: #b35900; }
@media (prefers-color-scheme: dark) { :root { --fg: #e6e8eb; --muted: #9aa4ae; --bg: #0f1216; --card: #171b21; --line: #2a3038; --accent: #58a6ff; --warn: #f0a14a; } }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.4 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--fg); background: var(--bg); }
header { display: flex; flex-wrap: wrap; gap: 4px 16px; align-items: baseline; padding: 12px 20px; border-bottom: 1px solid var(--line); background: var(--card); }
header h1 { font-size: 17px; margin: 0; }
header .meta { color: var(--muted); }
#live { margin-left: auto; font-weight: 600; }
#live.ok { color: #2da44e; }
#live.bad { color: var(--warn); }
main { padding: 16px 20px; display: grid; gap: 16px; }
main > *, .grid2 > * { min-width: 0; }
#table { overflow-x: auto; }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(140px, 1fr)); gap: 10px; }
.card, section { background: var(--card); border: 1px solid var(--line); border-radius: 8px; }
.card { padding: 10px 12px; }
.card .label { color: var(--muted); font-size: 12px; }
.card .value { font-size: 18px; font-weight: 600; font-variant-numeric: tabular-nums; }
.card .sub { color: var(--muted); font-size: 12px; }
section { padding: 12px 14px; }
section h2 { font-size: 14px; margin: 0 0 8px; }
section p.note { color: var(--muted); margin: 6px 0 0; font-size: 12px; }
.grid2 { display: grid; grid-template-columns: repeat(auto-fit, minmax(380px, 1fr)); gap: 16px; }
table { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; }
th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid var(--line); white-space: nowrap; }
th { color: var(--muted); font-weight: 600; font-size: 12px; }
th.sortable { cursor: pointer; }
th.sorted { color: var(--accent); }
td.num, th.num { text-align: right; }
td.target { max-width: 320px; overflow: hidden; text-overflow: ellipsis; }
.health { display: grid; grid-template-columns: repeat(auto-fill, minmax(220px, 1fr)); gap: 8px 16px; }
.health div { border-left: 3px solid var(--line); padding-left: 8px; }
.health b { font-size: 18px; font-variant-numeric: tabular-nums; }
.health span { display: block; color: var(--muted); font-size: 12px; }
.legend { display: flex; flex-wrap: wrap; gap: 4px 14px; margin-top: 6px; font-size: 12px; }
.legend i, td.state i { display: inline-block; width: 10px; height: 10px; border-radius: 2px; margin-right: 4px; vertical-align: -1px; }
svg { display: block; width: 100%; height: auto; }
svg text { fill: var(--muted); font-size: 10px; }
svg .bar { fill: var(--accent); }
svg .marker { stroke: var(--warn); stroke-width: 1.5; stroke-dasharray: 4 3; }
svg .marker-label { fill: var(--warn); }
svg .axis { stroke: var(--line); }
.s-handshake { fill: #57606a; background: #57606a; } .s-new { fill: #8c959f; background: #8c959f; } .s-reading { fill: #1f6feb; background: #1f6feb; } .s-handling { fill: #8250df; background: #8250df; }
.s-writing { fill: #bf3989; background: #bf3989; } .s-idle { fill: #2da44e; background: #2da44e; } .s-closing { fill: #d4a72c; background: #d4a72c; }
.s-lingering { fill: #fb8f44; background: #fb8f44; } .s-upgraded { fill: #0a7ea4; background: #0a7ea4; }
.empty { color: var(--muted); }
`;

const SCRIPT = `
'use strict';
const SVG = 'http://www.w3.org/2000/svg';
const STATES = ['handshake', 'new', 'reading', 'handling', 'writing', 'idle', 'closing', 'lingering', 'upgraded'];
const params = new URLSearchParams(location.search);
const token = params.get('token');
if (token !== null) history.replaceState(null, '', location.pathname);
let sort = 'id';
let descending = false;
let updates = 0;

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) node.setAttribute(name, value);
  for (const child of children) node.append(child instanceof Node ? child : String(child));
  return node;
}
function svgEl(tag, attrs, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attrs || {})) node.setAttribute(name, String(value));
  if (text !== undefined) node.textContent = text;
  return node;
}
function $(id) { return document.getElementById(id); }
function fill(id, ...children) { $(id).replaceChildren(...children); }

function int(n) { return n === null || n === undefined ? '—' : Math.round(n).toLocaleString('en-US'); }
function ms(n) {
  if (n === null || n === undefined) return '—';
  const a = Math.abs(n);
  if (a >= 60000) return (n / 60000).toFixed(1) + ' min';
  if (a >= 1000) return (n / 1000).toFixed(a >= 10000 ? 0 : 1) + ' s';
  if (a >= 10) return Math.round(n) + ' ms';
  return n.toFixed(a >= 1 ? 1 : 2) + ' ms';
}
function seconds(s) { return ms(s * 1000); }
function bytes(n) {
  if (n === null || n === undefined) return '—';
  if (n < 1024) return n + ' B';
  if (n < 1048576) return (n / 1024).toFixed(1) + ' KiB';
  if (n < 1073741824) return (n / 1048576).toFixed(1) + ' MiB';
  return (n / 1073741824).toFixed(2) + ' GiB';
}

function card(label, value, sub) {
  return el('div', { class: 'card' }, el('div', { class: 'label' }, label), el('div', { class: 'value' }, value), el('div', { class: 'sub' }, sub || '\\u00a0'));
}

function renderCards(v) {
  const rates = v.rates;
  const processes = v.processes;
  const rss = processes.reduce((a, p) => a + p.rssBytes, 0);
  const fds = processes.every((p) => p.openFds === null) ? null : processes.reduce((a, p) => a + (p.openFds || 0), 0);
  const delays = processes.map((p) => p.eventLoopDelayMs).filter((d) => d !== null);
  const delay = delays.length === 0 ? null : Math.max(...delays.map((d) => d.p99));
  const reuse = v.reuse.perClosedConnection;
  fill('cards',
    card('open connections', int(v.connections.open), int(v.totals.accepted) + ' accepted in all'),
    card('accepted / s', rates ? rates.acceptedPerS.toFixed(1) : '—', rates ? 'over ' + rates.windowS + ' s' : 'measuring…'),
    card('requests / s', rates ? rates.requestsPerS.toFixed(1) : '—', int(v.totals.requests) + ' in all'),
    card('requests per connection', reuse === null ? '—' : reuse.toFixed(2), 'closed connections (reuse)'),
    card('request time p50 / p99', ms(v.requestTime.p50Ms) + ' / ' + ms(v.requestTime.p99Ms), int(v.requestTime.count) + ' requests, last ' + seconds(v.requestTime.windowS)),
    card('event-loop delay p99', delay === null ? '—' : ms(delay), delays.length === 0 ? 'measuring…' : 'since the last update'),
    card('memory (RSS)', bytes(rss), processes.length > 1 ? processes.length + ' processes' : 'pid ' + processes[0].pid),
    card('open files', fds === null ? '—' : int(fds), 'descriptors'),
  );
}

function renderStates(v) {
  const total = v.connections.open;
  const svg = svgEl('svg', { viewBox: '0 0 1000 24', preserveAspectRatio: 'none', role: 'img', 'aria-label': 'connections by state' });
  let x = 0;
  for (const state of STATES) {
    const n = v.connections.byActivity[state] || 0;
    if (n === 0 || total === 0) continue;
    const w = (n / total) * 1000;
    const rect = svgEl('rect', { x, y: 0, width: w, height: 24, class: 's-' + state });
    rect.append(svgEl('title', {}, state + ': ' + n));
    svg.append(rect);
    x += w;
  }
  if (total === 0) svg.append(svgEl('rect', { x: 0, y: 0, width: 1000, height: 24, class: 'axis', fill: 'none' }));
  const legend = el('div', { class: 'legend' });
  for (const state of STATES) {
    const n = v.connections.byActivity[state] || 0;
    legend.append(el('span', { 'data-state': state }, el('i', { class: 's-' + state }), state + ' ' + n));
  }
  fill('states', svg, legend);
}

function renderHealth(v) {
  const k = v.keepAlive;
  const item = (id, value, text) => el('div', { 'data-counter': id }, el('b', {}, value), el('span', {}, text));
  fill('health',
    item('savedByIdleBuffer', int(k.savedByIdleBuffer), 'requests saved by the idle buffer (after the advertised timeout, before the enforced one)'),
    item('savedByPendingCheck', int(k.savedByPendingCheck), 'requests saved by the pending-bytes check at the idle deadline'),
    item('reconnectsAfterIdleClose', int(k.reconnectsAfterIdleClose), 'reconnects within 2 s of an idle close: the timeout is short for these clients'),
    item('closes', int(v.closes.fin) + ' / ' + int(v.closes.rstSent) + ' / ' + int(v.closes.rstReceived), 'closes by FIN / RST sent / RST received'),
    item('lingeringCloses', int(k.lingeringCloses) + ' · ' + bytes(k.closingBytesDiscarded), 'lingering closes · bytes drained while closing'),
    item('refusedAtMax', int(k.refusedAtMax), 'clients that sent past their last allowed request (max)'),
  );
}

function renderReasons(v) {
  if (v.closeReasons.length === 0) {
    fill('reasons', el('p', { class: 'empty' }, 'No connection has closed yet.'));
    return;
  }
  const max = Math.max(...v.closeReasons.map((r) => r.total));
  const table = el('table', {}, el('tr', {}, el('th', {}, 'reason'), el('th', { class: 'num' }, 'last minute'), el('th', { class: 'num' }, 'since start'), el('th', {}, '')));
  for (const r of v.closeReasons) {
    const bar = svgEl('svg', { viewBox: '0 0 100 8', preserveAspectRatio: 'none', width: 120, height: 8 });
    bar.append(svgEl('rect', { x: 0, y: 0, width: Math.max(1, (r.total / max) * 100), height: 8, class: 'bar' }));
    table.append(el('tr', { 'data-reason': r.reason }, el('td', {}, r.reason), el('td', { class: 'num' }, int(r.lastMinute)), el('td', { class: 'num' }, int(r.total)), el('td', {}, bar)));
  }
  fill('reasons', table);
}

function label(bound, unit) {
  if (unit === 's') return bound < 1 ? Math.round(bound * 1000) + 'ms' : bound + 's';
  return String(bound);
}

function histogram(id, h, unit, markers) {
  const W = 600, H = 150, left = 34, bottom = 20, top = 14;
  const n = h.counts.length;
  const bw = (W - left) / n;
  const max = Math.max(1, ...h.counts);
  const svg = svgEl('svg', { viewBox: '0 0 ' + W + ' ' + H, role: 'img', 'aria-label': id });
  svg.append(svgEl('line', { x1: left, y1: H - bottom, x2: W, y2: H - bottom, class: 'axis' }));
  svg.append(svgEl('text', { x: 0, y: top }, int(max)));
  svg.append(svgEl('text', { x: 0, y: H - bottom }, '0'));
  h.counts.forEach((count, i) => {
    const height = (count / max) * (H - bottom - top);
    const x = left + i * bw;
    const name = i < h.bounds.length ? '≤ ' + label(h.bounds[i], unit) : '> ' + label(h.bounds[h.bounds.length - 1], unit);
    const rect = svgEl('rect', { x: x + 1, y: H - bottom - height, width: Math.max(1, bw - 2), height, class: 'bar' });
    rect.append(svgEl('title', {}, name + ': ' + count));
    svg.append(rect);
    if (n <= 16 || i % 2 === 0) svg.append(svgEl('text', { x: x + bw / 2, y: H - 6, 'text-anchor': 'middle' }, i < h.bounds.length ? label(h.bounds[i], unit) : '∞'));
  });
  for (const m of markers || []) {
    let i = h.bounds.findIndex((b) => b >= m.at);
    if (i === -1) i = h.bounds.length;
    const lower = i === 0 ? 0 : h.bounds[i - 1];
    const upper = i < h.bounds.length ? h.bounds[i] : lower;
    const x = left + i * bw + (upper > lower ? ((m.at - lower) / (upper - lower)) * bw : bw / 2);
    svg.append(svgEl('line', { x1: x, y1: top - 4, x2: x, y2: H - bottom, class: 'marker' }));
    svg.append(svgEl('text', { x: x + 3, y: top + 8 + (m.row || 0) * 11, class: 'marker-label' }, m.label));
  }
  const mean = h.count === 0 ? '—' : unit === 's' ? seconds(h.sum / h.count) : (h.sum / h.count).toFixed(2);
  fill(id, svg, el('p', { class: 'note' }, int(h.count) + ' observations, mean ' + mean));
}

function renderHistograms(v) {
  const s = v.settings;
  histogram('idle-gap', v.histograms.idleGapS, 's', [
    { at: s.keepAliveTimeoutMs / 1000, label: 'advertised ' + seconds(s.keepAliveTimeoutMs / 1000) },
    { at: s.enforcedTimeoutMs / 1000, label: 'enforced ' + seconds(s.enforcedTimeoutMs / 1000), row: 1 },
  ]);
  histogram('per-connection', v.histograms.requestsPerConnection, '', s.maxRequestsPerConnection > 0 ? [{ at: s.maxRequestsPerConnection, label: 'max ' + s.maxRequestsPerConnection }] : []);
  histogram('lifetime', v.histograms.connectionDurationS, 's', []);
  histogram('duration', v.histograms.requestDurationS, 's', []);
}

const COLUMNS = [
  ['id', 'id', true], ['remote', 'remote', false], ['activity', 'state', true], ['elapsed', 'in state', true], ['age', 'age', true],
  ['requests', 'requests', true], ['left', 'max left', true], ['deadline', 'idle deadline (advertised · enforced)', true],
  ['request', 'current request', false], ['in', 'in', true], ['out', 'out', true], ['backlog', 'backlog', true],
];

function renderTable(v) {
  const head = el('tr', {});
  for (const [key, title, sortable] of COLUMNS) {
    const classes = [sortable ? 'sortable' : '', key === sort ? 'sorted' : '', ['requests', 'left', 'in', 'out', 'backlog', 'age', 'elapsed'].includes(key) ? 'num' : ''].join(' ').trim();
    const th = el('th', { class: classes, 'data-sort': key }, title + (key === sort ? (descending ? ' ↓' : ' ↑') : ''));
    if (sortable) th.addEventListener('click', () => { descending = key === sort ? !descending : key !== 'id'; sort = key; poll(false); });
    head.append(th);
  }
  const table = el('table', { id: 'connections' }, head);
  for (const c of v.connections.rows) {
    const d = c.idleDeadline;
    const deadline = d === null ? '—' : (d.advertisedInMs === null ? '— · ' : ms(d.advertisedInMs) + ' · ') + ms(d.enforcedInMs);
    const r = c.request;
    const request = r === null ? '—' : '#' + r.index + ' ' + r.method + ' ' + r.target + (r.elapsedMs === null ? '' : ' (' + ms(r.elapsedMs) + ')');
    const id = (c.worker === null ? '' : c.worker + ':') + c.id;
    table.append(el('tr', { 'data-id': id, 'data-state': c.activity },
      el('td', {}, id), el('td', {}, c.remoteAddress + ':' + c.remotePort),
      el('td', { class: 'state' }, el('i', { class: 's-' + c.activity }), c.activity), el('td', { class: 'num' }, ms(c.activityMs)),
      el('td', { class: 'num' }, ms(c.ageMs)), el('td', { class: 'num', 'data-col': 'requests' }, int(c.requestsServed)),
      el('td', { class: 'num', 'data-col': 'left' }, c.requestsLeft === null ? '∞' : int(c.requestsLeft)), el('td', { 'data-col': 'deadline' }, deadline),
      el('td', { class: 'target', 'data-col': 'request' }, request), el('td', { class: 'num' }, bytes(c.bytesIn)), el('td', { class: 'num' }, bytes(c.bytesOut)),
      el('td', { class: 'num' }, bytes(c.writeBacklogBytes))));
  }
  const shown = v.connections.rows.length;
  fill('table', table, el('p', { class: 'note' }, shown < v.connections.open ? 'showing ' + shown + ' of ' + v.connections.open + ' connections, by ' + sort : v.connections.open + ' connections'));
}

function render(v) {
  $('meta').textContent = 'holdfast ' + v.holdfast + ' · counting for ' + seconds(v.countingForS) + (v.processes.length > 1 ? ' · ' + v.processes.length + ' workers' : '') +
    ' · keep-alive timeout=' + v.settings.advertisedTimeoutS + 's advertised, ' + ms(v.settings.enforcedTimeoutMs) + ' enforced, max ' + (v.settings.maxRequestsPerConnection || '∞');
  renderCards(v);
  renderStates(v);
  renderHealth(v);
  renderReasons(v);
  renderHistograms(v);
  renderTable(v);
}

let timer = null;
async function poll(again = true) {
  const live = $('live');
  try {
    const query = 'status.json?sort=' + sort + '&order=' + (descending ? 'desc' : 'asc') + '&limit=200';
    const response = await fetch(query, { cache: 'no-store', headers: token === null ? {} : { authorization: 'Bearer ' + token } });
    if (!response.ok) throw new Error('HTTP ' + response.status);
    render(await response.json());
    updates++;
    document.body.dataset.updates = String(updates);
    document.body.dataset.ready = 'true';
    live.textContent = '● live';
    live.className = 'ok';
  } catch (error) {
    live.textContent = '● ' + error.message;
    live.className = 'bad';
  }
  if (again) {
    clearTimeout(timer);
    timer = setTimeout(poll, 1000);
  }
}
poll();
`;

function cspHash(text: string): string {
  return `'sha256-${createHash('sha256').update(text).digest('base64')}'`;
}

export const PAGE_CSP = [
  "default-src 'none'",
  `script-src ${cspHash(SCRIPT)}`,
  `style-src ${cspHash(STYLE)}`,
  "connect-src 'self'",
  "img-src 'self' data:",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

export const PAGE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<link rel="icon" href="data:,">
<title>holdfast · live status</title>
<style>${STYLE}</style>
</head>
<body>
<header><h1>holdfast · live status</h1><span class="meta" id="meta">loading…</span><span id="live">●</span></header>
<main>
<div class="cards" id="cards"></div>
<section><h2>Connections by state</h2><div id="states"></div></section>
<section><h2>Keep-alive health</h2><div class="health" id="health"></div></section>
<div class="grid2">
<section><h2>Idle gap between requests</h2><div id="idle-gap"></div><p class="note">How long kept-alive connections sat idle before their next request. Gaps pile up below the enforced timeout: connections idle longer were closed (idle-timeout) — see reconnects after idle close.</p></section>
<section><h2>Close reasons</h2><div id="reasons"></div></section>
<section><h2>Requests per connection</h2><div id="per-connection"></div></section>
<section><h2>Connection lifetime</h2><div id="lifetime"></div></section>
<section><h2>Request time</h2><div id="duration"></div></section>
</div>
<section><h2>Connections</h2><div id="table"></div></section>
</main>
<script>${SCRIPT}</script>
</body>
</html>
`;
