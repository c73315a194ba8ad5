// The edgeflux status page: one EventSource on /events (one snapshot a second), rendered
// with textContent only (topics and payloads come from devices: never parsed as HTML).
// Paging, sorting and filtering of devices happen in the daemon; changing them reopens
// the stream with the new view.

const $ = (id) => document.getElementById(id);
const view = { filter: '', sort: 'last_seen', page: 0, tail: '' };
let source;
let last;
const backlogPeak = new Map();

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined) e.textContent = text;
  if (cls) e.className = cls;
  return e;
}

function ago(ms) {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 172800) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86400)} d ago`;
}

function duration(s) {
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.round(s / 60)} min`;
  return `${Math.round(s / 360) / 10} h`;
}

function bytes(n) {
  if (n < 1024) return `${n} B`;
  if (n < 1048576) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1073741824) return `${(n / 1048576).toFixed(1)} MiB`;
  return `${(n / 1073741824).toFixed(2)} GiB`;
}

function list(ul, entries, empty) {
  ul.replaceChildren(...(entries.length ? entries.map(([k, v]) => el('li', `${k || '-'}: ${v}`)) : [el('li', empty, 'muted')]));
}

function connect() {
  source?.close();
  const q = new URLSearchParams({ filter: view.filter, sort: view.sort, page: String(view.page), tail: view.tail });
  source = new EventSource(`events?${q}`);
  source.onopen = () => ($('conn').textContent = 'live');
  source.onerror = () => ($('conn').textContent = 'reconnecting…');
  source.onmessage = (ev) => {
    last = JSON.parse(ev.data);
    render(last);
  };
}

function render(s) {
  // Health in words
  const ok = s.health.status === 'ok';
  $('health-text').textContent = ok ? 'Healthy: data flows in and out.' : 'Unhealthy:';
  $('health-text').className = ok ? 'ok' : 'bad';
  $('health-reasons').replaceChildren(
    ...s.health.reasons.map((r) => el('li', `${r.message}${r.since ? ` (since ${new Date(r.since).toLocaleString()})` : ''}`)),
  );

  // Flow
  list($('flow-in'), Object.entries(s.flow.in), 'nothing yet');
  list(
    $('flow-bad'),
    Object.entries(s.flow.bad).filter(([, v]) => v > 0),
    'none',
  );
  list($('flow-out'), Object.entries(s.flow.out), 'nothing yet');
  $('outputs').replaceChildren(
    ...s.outputs.map((o) => {
      const d = el('div', undefined, 'output');
      const head = el('div');
      head.append(el('strong', o.id), ' ', el('span', o.state, o.state === 'up' ? 'ok' : o.state));
      if (o.state !== 'up' && o.downSince) head.append(` since ${new Date(o.downSince).toLocaleTimeString()}`);
      if (o.lastError && o.state !== 'up') head.append(el('div', o.lastError, 'muted'));
      d.append(head);
      const peak = Math.max(o.behind, o.behind > 0 ? (backlogPeak.get(o.id) ?? 0) : 0);
      backlogPeak.set(o.id, peak);
      const lag = o.lag_s !== null ? ` (${duration(o.lag_s)})` : '';
      const eta = o.eta_s !== null ? `, about ${duration(o.eta_s)} to go at ${Math.round(o.drain_per_s)}/s` : '';
      d.append(el('div', o.behind > 0 ? `behind the journal: ${o.behind} messages${lag}${eta}` : 'caught up with the journal', 'muted'));
      const bar = el('div', undefined, 'bar');
      const fill = el('div');
      fill.dataset.output = o.id;
      fill.style.width = `${peak > 0 ? Math.round((100 * (peak - o.behind)) / peak) : 100}%`;
      bar.append(fill);
      bar.setAttribute('role', 'progressbar');
      bar.setAttribute('aria-label', `${o.id} backlog written`);
      bar.setAttribute('aria-valuenow', String(peak > 0 ? Math.round((100 * (peak - o.behind)) / peak) : 100));
      d.append(bar);
      return d;
    }),
  );

  // Spool
  if (s.spool) {
    const pct = s.spool.maxBytes > 0 ? Math.round((100 * s.spool.bytes) / s.spool.maxBytes) : 0;
    const oldest = s.spool.oldest_unwritten_s === null ? 'unknown' : s.outputs.some((o) => o.behind > 0) ? duration(s.spool.oldest_unwritten_s) : 'none';
    $('spool-text').textContent =
      `${s.spool.mode}: ${bytes(s.spool.bytes)} of ${bytes(s.spool.maxBytes)} (${pct}%), oldest unwritten message: ${oldest}, ${s.spool.dropped} dropped at the quota, ${s.spool.holding} held back`;
    $('spool-bar').style.width = `${pct}%`;
  }

  // Devices
  const dv = s.devices;
  $('dev-count').textContent = `(${dv.total})`;
  $('dev-page').textContent = `${dv.page + 1} / ${dv.pages}`;
  $('dev-rows').replaceChildren(
    ...dv.rows.map((r) => {
      const tr = el('tr');
      tr.dataset.device = r.device;
      tr.append(
        el('td', r.device),
        el('td', r.state, r.state === 'online' ? 'ok' : 'stale'),
        el('td', ago(s.t - r.last_seen)),
        el('td', r.values, 'values'),
        el('td', r.per_min === null ? '…' : String(r.per_min)),
        el('td', r.source),
      );
      return tr;
    }),
  );
  if (dv.rows.length === 0)
    $('dev-rows')
      .replaceChildren(el('tr', undefined))
      .firstChild.append(el('td', 'no device yet', 'muted'));

  // Bad input
  const reasons = new Set(s.bad.map((b) => b.reason));
  const sel = $('bad-reason');
  for (const r of reasons) if (![...sel.options].some((o) => o.value === r)) sel.append(el('option', r));
  const shown = s.bad.filter((b) => !sel.value || b.reason === sel.value);
  $('bad-list').replaceChildren(
    ...(shown.length
      ? shown.map((b) => {
          const li = el('li');
          li.append(
            el('code', b.topic),
            ' ',
            el('strong', b.reason, 'bad'),
            ' ',
            el('code', b.code),
            ` ${ago(s.t - b.atMs)}: ${b.message}`,
            el('div', b.payload, 'muted'),
            el('div', `→ ${b.hint}`),
          );
          return li;
        })
      : [el('li', 'none', 'muted')]),
  );

  // Live tail
  if (s.tail) {
    const pre = $('tail-lines');
    pre.className = '';
    const text = s.tail.lines.join('\n') + (s.tail.dropped ? `\n(${s.tail.dropped} more this second)` : '');
    if (text) pre.textContent = `${text}\n${pre.textContent}`.split('\n').slice(0, 200).join('\n');
  }
}

let timer;
function later(fn) {
  clearTimeout(timer);
  timer = setTimeout(fn, 300);
}

$('dev-filter').addEventListener('input', (e) => later(() => ((view.filter = e.target.value), (view.page = 0), connect())));
$('dev-sort').addEventListener('change', (e) => ((view.sort = e.target.value), connect()));
$('dev-prev').addEventListener('click', () => view.page > 0 && (view.page--, connect()));
$('dev-next').addEventListener('click', () => last && view.page < last.devices.pages - 1 && (view.page++, connect()));
$('bad-reason').addEventListener('change', () => last && render(last));
$('tail-filter').addEventListener('input', (e) =>
  later(() => {
    view.tail = e.target.value.trim();
    $('tail-lines').textContent = view.tail ? '' : 'Type a device or a topic filter.';
    connect();
  }),
);
connect();
