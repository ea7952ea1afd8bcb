/**
 * The live dashboard: one HTML page, no build step. Its script polls the admin API's JSON
 * endpoints (reads need no token unless the server protects reads: then it asks once and keeps
 * the token in sessionStorage) and draws backends with their load, connections, the hand-off
 * rate over time (an SVG chart) and recent hand-offs. Every value goes into the page as text
 * (textContent), never as HTML.
 */
export const DASHBOARD_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>prism · dashboard</title>
<link rel="icon" href="data:,">
<style>
  :root { --bg:#0f1419; --panel:#182029; --line:#2a3642; --text:#d8e0e8; --dim:#8a99a8; --ok:#4caf7a; --warn:#e0a040; --bad:#e05555; --accent:#4a9eff; }
  * { box-sizing: border-box; }
  body { margin:0; font:14px/1.4 system-ui, sans-serif; background:var(--bg); color:var(--text); }
  header { display:flex; gap:24px; align-items:baseline; padding:12px 20px; border-bottom:1px solid var(--line); }
  header h1 { font-size:18px; margin:0; }
  header .kv { color:var(--dim); } header .kv b { color:var(--text); font-weight:600; }
  main { display:grid; grid-template-columns: 1fr 1fr; gap:16px; padding:16px 20px; }
  section { background:var(--panel); border:1px solid var(--line); border-radius:6px; padding:12px 14px; min-width:0; }
  section.wide { grid-column: 1 / -1; }
  h2 { font-size:13px; text-transform:uppercase; letter-spacing:.06em; color:var(--dim); margin:0 0 8px; }
  table { width:100%; border-collapse:collapse; font-variant-numeric: tabular-nums; }
  th, td { text-align:left; padding:4px 6px; border-bottom:1px solid var(--line); white-space:nowrap; overflow:hidden; text-overflow:ellipsis; max-width:220px; }
  th { color:var(--dim); font-weight:500; }
  .pill { display:inline-block; padding:0 6px; border-radius:8px; font-size:12px; }
  .up { background:#1e3a2a; color:var(--ok); } .down { background:#3a1e1e; color:var(--bad); } .drain { background:#3a301e; color:var(--warn); }
  .bar { height:8px; background:var(--line); border-radius:4px; width:120px; }
  .bar > div { height:100%; background:var(--accent); border-radius:4px; }
  svg { width:100%; height:180px; display:block; }
  .legend span { margin-right:12px; color:var(--dim); } .legend i { display:inline-block; width:10px; height:3px; margin-right:4px; vertical-align:middle; }
  .empty { color:var(--dim); font-style:italic; }
  #error { color:var(--bad); }
</style>
</head>
<body>
<header>
  <h1>prism</h1>
  <span class="kv">health <b id="health">…</b></span>
  <span class="kv">policy <b id="policy">…</b></span>
  <span class="kv">connections <b id="conn-count">0</b></span>
  <span class="kv">in flight <b id="inflight">0</b></span>
  <span class="kv">PacketIn/s <b id="pktin">0</b></span>
  <span id="error"></span>
</header>
<main>
  <section class="wide">
    <h2>Hand-offs per second</h2>
    <div class="legend"><span><i style="background:var(--ok)"></i>done</span><span><i style="background:var(--bad)"></i>failed</span><span id="rate-now"></span></div>
    <svg id="rate-chart" viewBox="0 0 600 180" preserveAspectRatio="none" role="img" aria-label="hand-off rate">
      <g id="grid"></g>
      <polyline id="rate-done" fill="none" stroke="#4caf7a" stroke-width="2" points=""></polyline>
      <polyline id="rate-failed" fill="none" stroke="#e05555" stroke-width="2" points=""></polyline>
    </svg>
  </section>
  <section class="wide">
    <h2>Backends</h2>
    <table id="backends"><thead><tr><th>name</th><th>state</th><th>weight</th><th>active</th><th>load</th><th>queue</th><th>throughput</th><th>served</th><th>address</th></tr></thead><tbody></tbody></table>
  </section>
  <section>
    <h2>Connections</h2>
    <table id="connections"><thead><tr><th>client</th><th>state</th><th>owner</th><th>in</th><th>out</th><th>tx</th></tr></thead><tbody></tbody></table>
  </section>
  <section>
    <h2>Recent hand-offs</h2>
    <table id="handoffs"><thead><tr><th>tx</th><th>backend</th><th>outcome</th><th>ms</th><th>bytes</th><th>when</th></tr></thead><tbody></tbody></table>
  </section>
</main>
<script>
(() => {
  const params = new URLSearchParams(location.search);
  const interval = Math.max(200, Number(params.get('interval')) || 1000);
  const $ = (id) => document.getElementById(id);
  let token = sessionStorage.getItem('prism-admin-token');

  async function get(path) {
    const headers = token ? { authorization: 'Bearer ' + token } : {};
    const r = await fetch(path, { headers });
    if (r.status === 401 && !token) {
      token = prompt('Admin token') || '';
      sessionStorage.setItem('prism-admin-token', token);
      return get(path);
    }
    if (!r.ok) throw new Error(path + ': ' + r.status);
    return r.json();
  }
  function cell(tr, text, cls) { const td = document.createElement('td'); td.textContent = String(text); if (cls) td.className = cls; tr.appendChild(td); return td; }
  function fill(tableId, rows, cols, emptyText) {
    const tbody = $(tableId).querySelector('tbody');
    tbody.replaceChildren();
    if (rows.length === 0) { const tr = document.createElement('tr'); const td = cell(tr, emptyText, 'empty'); td.colSpan = cols; tbody.appendChild(tr); return; }
    for (const r of rows) tbody.appendChild(r);
  }
  const fmtBytes = (n) => n >= 1e9 ? (n/1e9).toFixed(1)+' GB' : n >= 1e6 ? (n/1e6).toFixed(1)+' MB' : n >= 1e3 ? (n/1e3).toFixed(1)+' kB' : n + ' B';
  const ago = (ms) => { const s = Math.max(0, (Date.now() - ms) / 1000); return s < 60 ? s.toFixed(0) + 's ago' : (s/60).toFixed(0) + 'm ago'; };

  function drawBackends(list) {
    const maxActive = Math.max(1, ...list.map((b) => b.load.activeTransactions + b.load.queueLength));
    fill('backends', list.map((b) => {
      const tr = document.createElement('tr');
      tr.dataset.backend = b.name;
      cell(tr, b.name);
      const st = document.createElement('span');
      st.className = 'pill ' + (!b.up ? 'down' : b.draining ? 'drain' : 'up');
      st.textContent = !b.up ? 'down' : b.draining ? 'draining' : 'up';
      cell(tr, '').appendChild(st);
      cell(tr, b.weight);
      cell(tr, b.activeTransactions);
      const bar = document.createElement('div'); bar.className = 'bar';
      const inner = document.createElement('div'); inner.style.width = Math.round(100 * (b.load.activeTransactions + b.load.queueLength) / maxActive) + '%';
      bar.appendChild(inner); cell(tr, '').appendChild(bar);
      cell(tr, b.load.queueLength);
      cell(tr, fmtBytes(b.load.recentThroughputBps) + '/s');
      cell(tr, b.served);
      cell(tr, b.ip + ' · port ' + b.port);
      return tr;
    }), 9, 'no backends');
  }
  function drawConnections(list) {
    $('conn-count').textContent = list.length;
    fill('connections', list.slice(0, 50).map((c) => {
      const tr = document.createElement('tr');
      cell(tr, c.client); cell(tr, c.state); cell(tr, c.owner); cell(tr, fmtBytes(c.bytesIn)); cell(tr, fmtBytes(c.bytesOut)); cell(tr, c.transactions);
      return tr;
    }), 6, 'no connections');
  }
  function drawHandoffs(list) {
    fill('handoffs', list.map((h) => {
      const tr = document.createElement('tr');
      cell(tr, h.tx); cell(tr, h.backend + (h.cached ? ' (cached)' : '')); cell(tr, h.outcome, h.outcome === 'done' ? '' : 'down'); cell(tr, h.durationMs.toFixed(1)); cell(tr, h.bytesSent == null ? '' : fmtBytes(h.bytesSent)); cell(tr, ago(h.atMs));
      return tr;
    }), 6, 'no hand-offs yet');
  }
  function drawRate(rate) {
    const pts = rate.handoffsPerInterval.slice(-60);
    const perSec = 1000 / rate.intervalMs;
    const max = Math.max(1, ...pts.map((p) => (p.done + p.failed) * perSec));
    const W = 600, H = 170, n = Math.max(pts.length - 1, 1);
    const line = (f) => pts.map((p, i) => (i * W / n).toFixed(1) + ',' + (H - (f(p) * perSec / max) * (H - 10) + 5).toFixed(1)).join(' ');
    $('rate-done').setAttribute('points', line((p) => p.done));
    $('rate-failed').setAttribute('points', line((p) => p.failed));
    const grid = $('grid'); grid.replaceChildren();
    for (let i = 0; i <= 4; i++) {
      const y = 5 + i * (H - 10) / 4;
      const l = document.createElementNS('http://www.w3.org/2000/svg', 'line');
      l.setAttribute('x1', '0'); l.setAttribute('x2', String(W)); l.setAttribute('y1', String(y)); l.setAttribute('y2', String(y));
      l.setAttribute('stroke', '#2a3642'); l.setAttribute('stroke-width', '1'); grid.appendChild(l);
      const t = document.createElementNS('http://www.w3.org/2000/svg', 'text');
      t.setAttribute('x', '4'); t.setAttribute('y', String(y + (i === 4 ? -2 : 12))); t.setAttribute('fill', '#8a99a8'); t.setAttribute('font-size', '10');
      t.textContent = (max * (4 - i) / 4).toFixed(max < 8 ? 1 : 0) + '/s'; grid.appendChild(t);
    }
    const last = pts.length > 1 ? pts[pts.length - 2] : pts[0];
    $('rate-now').textContent = last ? 'last: ' + ((last.done + last.failed) * perSec).toFixed(1) + '/s' : '';
    $('pktin').textContent = rate.packetInsPerSecond.toFixed(1);
    $('inflight').textContent = rate.transactionsInFlight;
  }

  async function refresh() {
    try {
      const [health, backends, conns, handoffs, rate, policies] = await Promise.all([
        get('/health'), get('/backends'), get('/connections'), get('/handoffs?limit=20'), get('/stats/rate'), get('/policies'),
      ]);
      $('health').textContent = health.status; $('health').style.color = health.status === 'ok' ? 'var(--ok)' : 'var(--warn)';
      $('policy').textContent = policies.active;
      drawBackends(backends); drawConnections(conns); drawHandoffs(handoffs); drawRate(rate);
      $('error').textContent = '';
      document.body.dataset.updated = String(Date.now());
    } catch (err) {
      $('error').textContent = String(err.message || err);
    }
  }
  refresh();
  setInterval(refresh, interval);
})();
</script>
</body>
</html>
`;
