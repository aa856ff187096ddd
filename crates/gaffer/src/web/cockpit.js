// gaffer cockpit: reads /cockpit, /screen and /events, sends prompts with POST /send.
// Everything from the server is inserted as text (textContent), never as HTML.
'use strict';
(() => {
  const csrf = document.querySelector('meta[name="gaffer-csrf"]').content;
  const $ = (id) => document.getElementById(id);
  const MAX_EVENTS = 100;
  // Assignment states that hold a bead (the ledger's live ones).
  const LIVE = ['offered', 'delivered', 'working'];
  let selected = null;
  let source = null;
  let stopped = false;
  let refreshTimer = null;
  let pauses = { all: false, panes: [] };
  let agentsByPane = {};
  let lastAssignments = [];

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }

  function stop(message) {
    stopped = true;
    if (source) source.close();
    setLive(false, message);
  }

  async function call(path, init) {
    const r = await fetch(path, Object.assign({ credentials: 'same-origin', cache: 'no-store' }, init || {}));
    let body = null;
    try { body = await r.json(); } catch (_) { body = null; }
    if (r.status === 401) {
      stop('logged out: open a new login link');
    }
    if (!r.ok) {
      const msg = body && body.message ? body.message : r.status + ' ' + r.statusText;
      const err = new Error(msg);
      err.status = r.status;
      err.code = body && body.error;
      throw err;
    }
    return body;
  }

  function setLive(on, text) {
    const l = $('live');
    l.className = 'live ' + (on ? 'on' : 'off');
    l.textContent = text;
  }

  function idle(s) {
    if (s === null || s === undefined) return '-';
    s = Math.max(0, Math.round(s));
    if (s < 60) return s + 's';
    if (s < 3600) return Math.floor(s / 60) + 'm' + String(s % 60).padStart(2, '0') + 's';
    return Math.floor(s / 3600) + 'h' + String(Math.floor(s % 3600 / 60)).padStart(2, '0') + 'm';
  }

  function cell(label, child) {
    const td = el('td');
    td.dataset.label = label;
    if (child instanceof Node) td.appendChild(child); else td.textContent = child;
    return td;
  }

  function contextBar(pct) {
    const wrap = el('span');
    if (pct === null || pct === undefined) { wrap.textContent = '-'; return wrap; }
    const bar = el('span', 'bar' + (pct >= 90 ? ' high' : pct >= 70 ? ' mid' : ''));
    const fill = el('span');
    fill.style.width = Math.min(100, Math.max(0, pct)) + '%';
    bar.appendChild(fill);
    wrap.appendChild(bar);
    wrap.appendChild(el('span', 'pct', Math.round(pct) + '%'));
    return wrap;
  }

  function renderAgents(agents) {
    const rows = agents.map((a) => {
      const tr = el('tr');
      tr.dataset.pane = a.pane_id;
      tr.dataset.status = a.status || 'UNKNOWN';
      if (a.pane_id === selected) tr.className = 'selected';
      tr.appendChild(cell('Pane', a.pane_id));
      tr.appendChild(cell('Agent', a.title || a.agent_type));
      const st = el('span', 'state state-' + (a.status || 'UNKNOWN'), a.status || 'UNKNOWN');
      st.title = a.reason || '';
      const stateCell = el('span');
      stateCell.appendChild(st);
      if (isPaused(a.pane_id)) {
        stateCell.appendChild(el('span', 'paused', 'paused'));
        tr.dataset.paused = 'true';
      }
      tr.appendChild(cell('State', stateCell));
      tr.appendChild(cell('Idle', idle(a.idle_seconds)));
      tr.appendChild(cell('Context', contextBar(a.context_usage)));
      tr.appendChild(cell('Bead', a.current_task || '-'));
      const health = a.healthy ? (a.issues && a.issues.length ? 'warn' : 'ok') : 'unhealthy';
      const h = el('span', health === 'ok' ? 'ok' : health === 'warn' ? 'warn' : 'bad', health);
      h.title = (a.issues || []).join('; ');
      tr.appendChild(cell('Health', h));
      const by = a.decided_by + (a.context_source ? ' · ctx ' + a.context_source : '');
      tr.appendChild(cell('By', by));
      tr.addEventListener('click', () => select(a.pane_id, a));
      return tr;
    });
    $('agents').tBodies[0].replaceChildren(...rows);
    $('no-agents').hidden = agents.length > 0;
    $('agent-count').textContent = agents.length ? '(' + agents.length + ')' : '';
  }

  function isPaused(pane) {
    return !!pauses && (pauses.all || (pauses.panes || []).includes(pane));
  }

  function renderAssignments(list) {
    const ul = $('assignments');
    if (list === null || list === undefined) { ul.replaceChildren(el('li', 'bad', 'the ledger cannot be read')); return; }
    if (!list.length) { ul.replaceChildren(el('li', 'dim', 'none yet')); return; }
    ul.replaceChildren(...list.map((r) => {
      const li = el('li');
      li.appendChild(el('span', 'tag', r.state));
      li.dataset.bead = r.bead_id;
      li.dataset.state = r.state;
      const who = r.agent_name ? r.agent_name + ' (' + r.agent_pane_id + ')' : r.agent_pane_id;
      li.appendChild(document.createTextNode(r.bead_id + ' → ' + who + (r.bead_title ? ': ' + r.bead_title : '')));
      if (LIVE.includes(r.state)) {
        const un = el('button', 'small unassign', 'Unassign');
        un.type = 'button';
        un.addEventListener('click', () => act('/unassign', { bead: r.bead_id }, 'unassigned ' + r.bead_id));
        li.appendChild(un);
      }
      if (selected && selected !== r.agent_pane_id && (LIVE.includes(r.state) || r.state === 'failed' || r.state === 'refused')) {
        const re = el('button', 'small reassign', 'Reassign to ' + selected);
        re.type = 'button';
        const to = selected;
        re.addEventListener('click', () => act('/reassign', { bead: r.bead_id, pane: to }, 'reassigned ' + r.bead_id + ' to ' + to));
        li.appendChild(re);
      }
      return li;
    }));
  }

  function renderConflicts(list) {
    const ul = $('conflicts');
    if (!list || !list.length) { ul.replaceChildren(el('li', 'dim', 'none')); return; }
    ul.replaceChildren(...list.map((c) => el('li', 'warn', c.pattern + ': ' + (c.holders || []).join(', '))));
  }

  function renderDigest(d) {
    const box = $('digest');
    if (!d) { box.replaceChildren(); return; }
    const dl = el('dl');
    const add = (k, v) => { dl.appendChild(el('dt', null, k)); dl.appendChild(el('dd', null, v)); };
    add('agents', d.agent_count + ' (' + d.active_count + ' active, ' + d.idle_count + ' idle, ' + d.error_count + ' in error)');
    const w = d.work_summary;
    if (w) add('work', w.pending_tasks + ' open · ' + w.in_progress_tasks + ' in progress · ' + w.blocked_tasks + ' blocked · ' + w.completed_today + ' done today');
    for (const a of d.alerts || []) add('alert', a);
    for (const s of d.sources || []) add('source ' + s.name, s.status + (s.error ? ': ' + s.error : ''));
    add('generated', d.generated_at);
    box.replaceChildren(dl);
  }

  function renderProblems(list) {
    const p = $('problems');
    p.hidden = !list || !list.length;
    p.textContent = (list || []).join('; ');
  }

  let knownTypes = null;
  function listen(types, lastId) {
    if (source || stopped) return;
    knownTypes = new Set(types);
    source = new EventSource('/events?last_event_id=' + Math.max(0, lastId - 30), { withCredentials: true });
    source.onopen = () => setLive(true, 'live');
    source.onerror = () => setLive(false, 'reconnecting…');
    const on = (e) => addEvent(e);
    source.addEventListener('message', on);
    for (const t of knownTypes) source.addEventListener(t, on);
  }

  function addEvent(e) {
    let data;
    try { data = JSON.parse(e.data); } catch (_) { return; }
    const li = el('li');
    li.dataset.id = e.lastEventId;
    li.dataset.type = data.type;
    const time = (data.timestamp || '').slice(11, 19);
    li.appendChild(el('span', 'tag', time));
    let text = data.type + (data.agent_id ? ' ' + data.agent_id : '');
    const d = data.details || {};
    for (const k of ['bead_id', 'status', 'new_status', 'reason', 'pattern', 'error']) {
      if (d[k] !== undefined) text += ' ' + k + '=' + String(d[k]).slice(0, 120);
    }
    li.appendChild(document.createTextNode(text));
    const ol = $('events');
    ol.insertBefore(li, ol.firstChild);
    while (ol.children.length > MAX_EVENTS) ol.removeChild(ol.lastChild);
    soon();
  }

  function soon() {
    if (refreshTimer) return;
    refreshTimer = setTimeout(() => { refreshTimer = null; refresh(); preview(); }, 250);
  }

  async function refresh() {
    if (stopped) return;
    try {
      const v = await call('/cockpit');
      $('session').textContent = 'session ' + v.session;
      pauses = v.pauses || pauses;
      agentsByPane = {};
      for (const a of v.agents) agentsByPane[a.pane_id] = a;
      renderAgents(v.agents);
      lastAssignments = v.assignments;
      renderAssignments(v.assignments);
      renderAgentActions();
      renderConflicts(v.conflicts);
      renderDigest(v.digest);
      renderProblems(v.problems);
      if (!selected && v.agents.length) select(v.agents[0].pane_id, v.agents[0]);
      listen(v.event_types || [], v.last_event_id || 0);
    } catch (err) {
      if (!stopped) setLive(false, 'offline: ' + err.message);
    }
  }

  function select(pane, agent) {
    if (pane !== selected) {
      // Another pane's screen never shows under this one's name.
      $('preview').replaceChildren();
      delete $('preview').dataset.pane;
      $('preview-title').textContent = pane;
      $('verdict').textContent = 'loading…';
      $('send-result').textContent = '';
      delete $('send-result').dataset.outcome;
      $('action-result').textContent = '';
      delete $('action-result').dataset.outcome;
      $('dialog').hidden = true;
    }
    selected = pane;
    renderAgentActions();
    renderAssignments(lastAssignments);
    for (const tr of $('agents').tBodies[0].rows) tr.classList.toggle('selected', tr.dataset.pane === pane);
    $('send-target').textContent = pane + (agent && agent.title ? ' ' + agent.title : '');
    preview();
  }

  async function preview() {
    if (!selected || stopped) return;
    try {
      const s = await call('/screen?pane=' + encodeURIComponent(selected));
      if (s.pane_id !== selected) return;
      $('preview-title').textContent = s.pane_id + ' ' + (s.title || s.agent_type);
      // This is the screen's own verdict (the table's state may be fused with hooks and files).
      $('verdict').textContent = 'screen: ' + s.status + ' · ' + s.reason + (s.rule ? ' (' + s.rule + ')' : '');
      const pre = $('preview');
      const follow = pre.dataset.pane !== s.pane_id || pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
      pre.replaceChildren(...s.lines.map((l) => el('span', 'line' + (l.evidence ? ' evidence' : ''), l.text)));
      pre.dataset.pane = s.pane_id;
      // The bottom of the screen (the live part, where the evidence usually is) stays in view.
      if (follow) pre.scrollTop = pre.scrollHeight;
    } catch (err) {
      $('verdict').textContent = 'no screen: ' + err.message;
    }
  }

  function renderAgentActions() {
    const a = selected ? agentsByPane[selected] : null;
    const paused = selected ? isPaused(selected) : false;
    $('pause').disabled = !a || paused;
    $('resume').disabled = !a || !paused;
    $('read-dialog').disabled = !a || a.status !== 'BLOCKED';
    $('jump').disabled = !a;
    $('pause-all').disabled = !!pauses.all;
    $('resume-all').disabled = !pauses.all && !(pauses.panes || []).length;
  }

  function showResult(ok, code, text) {
    const out = $('action-result');
    out.className = ok ? 'ok' : 'bad';
    out.dataset.outcome = code;
    out.textContent = text;
  }

  // Every action is a JSON POST with the session's CSRF token.
  async function act(path, body, done) {
    pending();
    try {
      const r = await call(path, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', 'X-Gaffer-Csrf': csrf },
        body: JSON.stringify(body),
      });
      showResult(true, 'ok', done);
      return r;
    } catch (err) {
      showResult(false, err.code || 'error', 'refused: ' + err.message);
      return null;
    } finally {
      soon();
    }
  }

  $('pause').addEventListener('click', () => act('/pause', { pane: selected }, 'auto-assign paused for ' + selected));
  $('resume').addEventListener('click', () => act('/resume', { pane: selected }, 'auto-assign resumed for ' + selected));
  $('pause-all').addEventListener('click', () => act('/pause', { all: true }, 'auto-assign paused for every agent'));
  $('resume-all').addEventListener('click', () => act('/resume', { all: true }, 'auto-assign resumed for every agent'));
  function pending() {
    const out = $('action-result');
    delete out.dataset.outcome;
    out.className = 'dim';
    out.textContent = 'working…';
  }

  $('jump').addEventListener('click', async () => {
    pending();
    try {
      const j = await call('/jump?pane=' + encodeURIComponent(selected));
      showResult(true, 'ok', 'in tmux: tmux switch-client -t ' + j.target + '   (pane ' + j.pane_id + ')');
    } catch (err) {
      showResult(false, err.code || 'error', 'no jump target: ' + err.message);
    }
  });
  // A dialog is answered only after its full text is on the page, by choosing one of the
  // options read from the screen; the answer carries the dialog shown, so a changed screen is
  // refused instead of answered blind.
  $('read-dialog').addEventListener('click', async () => {
    const pane = selected;
    pending();
    try {
      const d = await call('/dialog?pane=' + encodeURIComponent(pane));
      $('dialog-text').textContent = d.dialog.text.join('\n');
      $('dialog-options').replaceChildren(...d.dialog.options.map((o) => {
        const b = el('button', null, o.number + '. ' + o.label);
        b.type = 'button';
        b.dataset.option = o.number;
        b.addEventListener('click', async () => {
          const r = await act('/answer', { pane: pane, option: o.number, shown: d.dialog }, 'answered ' + o.number + '. ' + o.label);
          if (r) {
            $('dialog').hidden = true;
            if (!r.confirmed) showResult(true, 'unconfirmed', 'typed ' + o.number + ', but the dialog is still on screen');
          }
        });
        return b;
      }));
      $('dialog').dataset.pane = pane;
      $('dialog').hidden = false;
      $('action-result').textContent = '';
    } catch (err) {
      $('dialog').hidden = true;
      showResult(false, err.code || 'error', 'no dialog: ' + err.message);
    }
  });

  $('send-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const text = $('prompt').value;
    const out = $('send-result');
    if (!selected || !text.trim()) { out.textContent = 'choose an agent and write a prompt'; return; }
    $('send').disabled = true;
    out.className = 'dim';
    out.textContent = 'sending to ' + selected + '…';
    delete out.dataset.outcome;
    try {
      const r = await call('/send', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', 'X-Gaffer-Csrf': csrf },
        body: JSON.stringify({ pane: selected, text: text, force: $('force').checked }),
      });
      out.dataset.outcome = r.outcome;
      out.className = r.delivered ? 'ok' : 'warn';
      out.textContent = (r.delivered ? 'delivered to ' : 'sent, not confirmed: ') + r.pane_id + ' after ' + r.attempts + ' attempt(s), ' + r.elapsed_ms + ' ms';
      if (r.delivered) $('prompt').value = '';
    } catch (err) {
      out.dataset.outcome = err.code || 'error';
      out.className = 'bad';
      out.textContent = 'not sent: ' + err.message;
    } finally {
      $('send').disabled = false;
      soon();
    }
  });

  refresh();
  setInterval(refresh, 2000);
  setInterval(preview, 1500);
})();
