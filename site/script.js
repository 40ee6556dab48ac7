// Reads the server's record of recent requests (/__holdfast/requests, served only in demo mode)
// and shows which connection served each resource of this page load.
(async () => {
  const resources = ['/style.css', '/script.js', '/logo.png', '/data.json'];
  await fetch('data.json', { cache: 'no-cache' }).then((r) => r.json());
  const report = await fetch('/__holdfast/requests', { cache: 'no-store' }).then((r) => r.json());
  const latest = (targets) => {
    for (let i = report.requests.length - 1; i >= 0; i--) if (targets.includes(report.requests[i].target)) return report.requests[i];
    return null;
  };
  const page = latest(['/', '/index.html']);
  // The page load began when its request started, or when its connection opened if it was the first request on it.
  const pageStart = page ? (page.requestIndex === 1 ? report.connections[page.connectionId] : page.startedAt) : Infinity;
  const rows = document.querySelector('#served tbody');
  const shown = [];
  for (const path of resources) {
    const served = latest([path]);
    const opened = served ? report.connections[served.connectionId] : undefined;
    const before = opened !== undefined && opened < pageStart;
    const tr = document.createElement('tr');
    tr.dataset.resource = path;
    const cells = [
      path,
      served ? `#${served.connectionId}` : '?',
      served ? String(served.requestIndex) : '?',
      served ? (before ? 'before this page load (reused)' : 'during this page load') : '?',
    ];
    cells.forEach((text, i) => {
      const td = document.createElement('td');
      td.textContent = text;
      if (i === 3) td.className = before ? 'reused' : 'fresh';
      tr.appendChild(td);
    });
    rows.appendChild(tr);
    shown.push({ resource: path, connectionId: served?.connectionId ?? null, requestIndex: served?.requestIndex ?? null, reused: Boolean(before) });
  }
  const connections = new Set(shown.map((s) => s.connectionId));
  document.querySelector('#summary').textContent =
    `${shown.length} resources over ${connections.size} connection(s); ${shown.filter((s) => s.reused).length} on connections opened before this page load.`;
  window.holdfastDemo = { page, shown };
  document.body.dataset.ready = 'true';
})();
