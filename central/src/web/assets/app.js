// Central's pages: the one script (no inline scripts: the pages' content security policy
// allows none). Every change goes to the JSON API with the session's CSRF token; texts come
// from the page's catalogue (<script type="application/json" id="messages">).
'use strict';

(function () {
  const messagesElement = document.getElementById('messages');
  const messages = messagesElement ? JSON.parse(messagesElement.textContent) : {};
  const csrfMeta = document.querySelector('meta[name="csrf-token"]');
  const csrf = csrfMeta ? csrfMeta.content : '';
  const lang = document.body.dataset.lang || 'zh';
  const timeZone = document.body.dataset.timeZone || 'UTC';

  /** The catalogue's text of `key`, with `{name}` holes filled from `values`. */
  function t(key, values) {
    let text = messages[key] || key;
    for (const [name, value] of Object.entries(values || {})) {
      text = text.split('{' + name + '}').join(String(value));
    }
    return text;
  }

  /** Calls the API; resolves to {status, body, headers}; a network failure to status 0. */
  async function api(method, path, body) {
    const headers = { accept: 'application/json' };
    if (method !== 'GET') headers['x-csrf-token'] = csrf;
    if (body !== undefined) headers['content-type'] = 'application/json';
    let response;
    try {
      response = await fetch(path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        credentials: 'same-origin',
      });
    } catch (e) {
      return { status: 0, body: null, headers: new Headers() };
    }
    const text = await response.text();
    let parsed = null;
    try {
      parsed = text ? JSON.parse(text) : null;
    } catch (e) {
      parsed = null;
    }
    if (response.status === 401 && !path.startsWith('/api/v1/session')) {
      // The session ended meanwhile: sign in again and come back.
      location.assign('/sign-in?next=' + encodeURIComponent(location.pathname + location.search));
    }
    return { status: response.status, body: parsed, headers: response.headers };
  }

  /** What went wrong, for people: the catalogue's words where it has them. */
  function problem(reply) {
    if (reply.status === 0) return t('network_error');
    const error = reply.body && reply.body.error;
    if (error && error.code === 'sign_in_failed') return t('sign_in_failed');
    if (error && error.code === 'wrong_password') return t('wrong_password');
    if (error && error.code === 'locked') {
      const seconds = Number(reply.headers.get('retry-after')) || 60;
      return t('locked', { minutes: Math.ceil(seconds / 60) });
    }
    return t('request_failed', { message: error ? error.message : 'HTTP ' + reply.status });
  }

  function show(element, text) {
    element.textContent = text;
    element.hidden = false;
  }

  function byId(id) {
    return document.getElementById(id);
  }

  /** `2026-12-06 16:34` in the user's time zone. */
  function formatTime(iso) {
    if (!iso) return '';
    const date = new Date(iso);
    if (Number.isNaN(date.getTime())) return iso;
    const parts = new Intl.DateTimeFormat('en-GB', {
      timeZone,
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
      hourCycle: 'h23',
    }).formatToParts(date);
    const get = (type) => (parts.find((p) => p.type === type) || {}).value;
    return `${get('year')}-${get('month')}-${get('day')} ${get('hour')}:${get('minute')}:${get('second')}`;
  }

  /** A `datetime-local` value read in the user's time zone, as RFC 3339 UTC. */
  function zonedToUtc(local) {
    if (!local) return '';
    const asUtc = new Date(local + (local.length === 16 ? ':00Z' : 'Z'));
    if (Number.isNaN(asUtc.getTime())) return '';
    const parts = new Intl.DateTimeFormat('en-GB', {
      timeZone,
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
      hourCycle: 'h23',
    }).formatToParts(asUtc);
    const get = (type) => Number((parts.find((p) => p.type === type) || {}).value);
    const shown = Date.UTC(get('year'), get('month') - 1, get('day'), get('hour'), get('minute'), get('second'));
    return new Date(asUtc.getTime() - (shown - asUtc.getTime())).toISOString().replace('.000Z', 'Z');
  }

  // ----------------------------------------------------------------------------------------
  // Every page

  const signOut = byId('sign-out');
  if (signOut) {
    signOut.addEventListener('click', async () => {
      signOut.disabled = true;
      await api('DELETE', '/api/v1/session');
      location.replace('/sign-in');
    });
  }

  // On a phone the navigation is one row that scrolls sideways: the current page's link in
  // view.
  const currentLink = document.querySelector('header.top nav a[aria-current="page"]');
  const navRow = currentLink ? currentLink.parentElement : null;
  if (navRow && navRow.scrollWidth > navRow.clientWidth) {
    const left = currentLink.getBoundingClientRect().left - navRow.getBoundingClientRect().left;
    navRow.scrollLeft = Math.max(0, left - navRow.clientWidth / 3);
  }

  // ----------------------------------------------------------------------------------------
  // Sign-in

  const signInForm = byId('sign-in-form');
  if (signInForm) {
    signInForm.addEventListener('submit', async (event) => {
      event.preventDefault();
      const button = byId('sign-in-button');
      const error = byId('sign-in-error');
      error.hidden = true;
      button.disabled = true;
      const reply = await api('POST', '/api/v1/session', {
        login: byId('login').value,
        password: byId('password').value,
      });
      button.disabled = false;
      if (reply.status === 200) {
        location.assign(signInForm.dataset.next || '/account');
      } else {
        show(error, problem(reply));
        byId('password').select();
      }
    });
  }

  // ----------------------------------------------------------------------------------------
  // Account: password and personal tokens

  const passwordForm = byId('password-form');
  if (passwordForm) {
    passwordForm.addEventListener('submit', async (event) => {
      event.preventDefault();
      const note = byId('password-message');
      note.classList.remove('error');
      const current = byId('current-password').value;
      const fresh = byId('new-password').value;
      if (fresh !== byId('repeat-password').value) {
        note.classList.add('error');
        show(note, t('passwords_differ'));
        return;
      }
      const reply = await api('PUT', '/api/v1/me/password', { current, new: fresh });
      if (reply.status === 204) {
        passwordForm.reset();
        show(note, t('password_changed'));
      } else {
        note.classList.add('error');
        show(note, problem(reply));
      }
    });
  }

  const tokenForm = byId('token-form');
  if (tokenForm) {
    tokenForm.addEventListener('submit', async (event) => {
      event.preventDefault();
      const error = byId('token-message');
      error.hidden = true;
      const permissions = Array.from(tokenForm.querySelectorAll('input[name="permission"]:checked')).map(
        (box) => box.value,
      );
      const reply = await api('POST', '/api/v1/me/tokens', {
        name: byId('token-name').value,
        expires_in_days: Number(byId('token-days').value),
        permissions,
      });
      if (reply.status === 201) {
        tokenForm.hidden = true;
        byId('new-token-value').textContent = reply.body.token;
        byId('new-token').hidden = false;
        byId('new-token').dataset.tokenId = reply.body.token_id;
      } else {
        show(error, problem(reply));
      }
    });
    // The secret is never shown again: the list is read anew without it.
    byId('new-token-done').addEventListener('click', () => location.reload());
  }

  // SPC: retiring a characteristic goes to the API; the page is read again to show it. The
  // button is in the page's live part, swapped in anew after every change: listened for on
  // the document.
  document.addEventListener('click', async (event) => {
    const spcRetire = event.target instanceof Element ? event.target.closest('#spc-retire') : null;
    if (spcRetire) {
      if (!confirm(t('spc_confirm_retire', { name: spcRetire.dataset.name }))) return;
      const reply = await api('POST', '/api/v1/spc/characteristics/' + encodeURIComponent(spcRetire.dataset.id) + '/retire', {});
      if (reply.status === 200) {
        location.reload();
      } else {
        show(byId('spc-retire-error'), problem(reply));
      }
    }
  });

  // ----------------------------------------------------------------------------------------
  // Kiosk links: minted through the API, the link shown once; revoked through the API.

  const kioskForm = byId('kiosk-form');
  if (kioskForm) {
    kioskForm.addEventListener('submit', async (event) => {
      event.preventDefault();
      const error = byId('kiosk-message');
      error.hidden = true;
      const reply = await api('POST', '/api/v1/kiosk-links', {
        name: byId('kiosk-name').value,
        plant: byId('kiosk-plant').value,
        language: byId('kiosk-language').value,
        time_zone: timeZone,
      });
      if (reply.status === 201) {
        kioskForm.hidden = true;
        byId('new-kiosk-url').textContent = location.origin + reply.body.path;
        byId('new-kiosk').hidden = false;
        byId('new-kiosk').dataset.linkId = reply.body.link.link_id;
      } else {
        show(error, problem(reply));
      }
    });
    // The link is never shown again: the list is read anew without it.
    byId('new-kiosk-done').addEventListener('click', () => location.reload());
  }

  for (const button of document.querySelectorAll('button.revoke-kiosk')) {
    button.addEventListener('click', async () => {
      const row = button.closest('tr');
      const name = row ? row.querySelector('.key').textContent : '';
      if (!confirm(t('kiosk_confirm_revoke', { name }))) return;
      const reply = await api('POST', '/api/v1/kiosk-links/' + encodeURIComponent(button.dataset.linkId) + '/revoke', {});
      if (reply.status === 200) {
        location.reload();
      } else {
        alert(problem(reply));
      }
    });
  }

  for (const button of document.querySelectorAll('button.revoke')) {
    button.addEventListener('click', async () => {
      if (!confirm(t('confirm_revoke'))) return;
      const reply = await api('DELETE', '/api/v1/me/tokens/' + encodeURIComponent(button.dataset.tokenId));
      if (reply.status === 204) {
        location.reload();
      } else {
        alert(problem(reply));
      }
    });
  }

  // ----------------------------------------------------------------------------------------
  // Users

  const userForm = byId('user-form');
  let editing = null;
  function oneTimeSecret(label, value) {
    byId('new-password-label').textContent = label;
    byId('new-password-value').textContent = value;
    byId('new-password').hidden = false;
    byId('new-password').scrollIntoView({ block: 'nearest' });
  }
  const passwordDone = byId('new-password-done');
  if (passwordDone) passwordDone.addEventListener('click', () => location.reload());

  if (userForm) {
    const title = byId('user-form-title');
    userForm.addEventListener('reset', () => {
      editing = null;
      byId('user-login').readOnly = false;
      title.textContent = title.dataset.new;
    });
    for (const button of document.querySelectorAll('button.edit')) {
      button.addEventListener('click', () => {
        const user = JSON.parse(button.dataset.user);
        userForm.reset();
        editing = user.login;
        title.textContent = title.dataset.edit.split('{login}').join(user.login);
        byId('user-login').value = user.login;
        byId('user-login').readOnly = true;
        byId('user-name').value = user.display_name;
        byId('user-language').value = user.language;
        byId('user-zone').value = user.time_zone;
        byId('user-manager').value = user.manager || '';
        byId('user-badge').value = user.badge || '';
        for (const box of userForm.querySelectorAll('input[name="role"]')) box.checked = user.roles.includes(box.value);
        for (const box of userForm.querySelectorAll('input[name="plant"]')) box.checked = user.plants.includes(box.value);
        userForm.scrollIntoView({ block: 'start' });
        byId('user-name').focus();
      });
    }
    userForm.addEventListener('submit', async (event) => {
      event.preventDefault();
      const error = byId('user-form-error');
      error.hidden = true;
      const login = byId('user-login').value.trim();
      const checked = (name) =>
        Array.from(userForm.querySelectorAll(`input[name="${name}"]:checked`)).map((box) => box.value);
      const body = {
        display_name: byId('user-name').value,
        language: byId('user-language').value,
        time_zone: byId('user-zone').value.trim(),
        roles: checked('role'),
        plants: checked('plant'),
      };
      const manager = byId('user-manager').value.trim();
      const badge = byId('user-badge').value.trim();
      if (manager) body.manager = manager;
      if (badge) body.badge = badge;
      const password = byId('user-password').value;
      if (password) body.password = password;
      const reply = await api('PUT', '/api/v1/users/' + encodeURIComponent(login), body);
      if (reply.status === 200) {
        location.reload();
      } else {
        show(error, problem(reply));
      }
    });
  }

  function userAction(selector, action, confirmKey) {
    for (const button of document.querySelectorAll(selector)) {
      button.addEventListener('click', async () => {
        const login = button.dataset.login;
        if (confirmKey && !confirm(t(confirmKey, { login }))) return;
        const reply = await api('POST', `/api/v1/users/${encodeURIComponent(login)}/${action}`);
        if (reply.status !== 200) {
          show(byId('users-message'), problem(reply));
        } else if (action === 'reset-password') {
          oneTimeSecret(t('new_password_once', { login }), reply.body.password);
        } else {
          location.reload();
        }
      });
    }
  }
  userAction('button.disable', 'disable', 'confirm_disable');
  userAction('button.enable', 'enable', null);
  userAction('button.reset', 'reset-password', 'confirm_reset');

  // ----------------------------------------------------------------------------------------
  // Plants

  const plantForm = byId('plant-form');
  if (plantForm) {
    const title = byId('plant-form-title');
    plantForm.addEventListener('reset', () => {
      byId('plant-id').readOnly = false;
      title.textContent = title.dataset.new;
    });
    for (const button of document.querySelectorAll('button.edit-plant')) {
      button.addEventListener('click', () => {
        const plant = JSON.parse(button.dataset.plantJson);
        plantForm.reset();
        plantForm.hidden = false;
        title.textContent = title.dataset.edit.split('{plant}').join(plant.plant);
        byId('plant-id').value = plant.plant;
        byId('plant-id').readOnly = true;
        byId('plant-name').value = plant.name;
        byId('plant-tolerance').value = plant.over_tolerance_pct;
        byId('plant-stop').checked = plant.stop_counting_when_complete;
        byId('plant-negative').value = plant.negative_stock;
        byId('plant-name').focus();
      });
    }
    plantForm.addEventListener('submit', async (event) => {
      event.preventDefault();
      const error = byId('plant-form-error');
      error.hidden = true;
      const id = byId('plant-id').value.trim();
      const reply = await api('PUT', '/api/v1/plants/' + encodeURIComponent(id), {
        name: byId('plant-name').value,
        over_tolerance_pct: String(byId('plant-tolerance').value || '0'),
        stop_counting_when_complete: byId('plant-stop').checked,
        negative_stock: byId('plant-negative').value,
      });
      if (reply.status === 200) {
        location.reload();
      } else {
        show(error, problem(reply));
      }
    });
  }

  // ----------------------------------------------------------------------------------------
  // Audit trail: read from GET /api/v1/audit with the form's filters, paged by `next`

  const auditFilters = byId('audit-filters');
  if (auditFilters) {
    const query = new URLSearchParams(location.search);
    // The form shows the filters in the user's zone; the API takes UTC.
    const filters = new URLSearchParams();
    for (const name of ['actor', 'entity', 'entity_id', 'action']) {
      const value = (query.get(name) || '').trim();
      if (value) filters.set(name, value);
    }
    for (const name of ['from', 'to']) {
      const local = query.get(name) || '';
      auditFilters.elements[name].value = local;
      const utc = zonedToUtc(local);
      if (utc) filters.set(name, utc);
    }
    byId('audit-csv').href = '/api/v1/audit.csv' + (filters.toString() ? '?' + filters : '');
    const status = byId('audit-status');
    const table = byId('audit-list');
    const body = table.querySelector('tbody');
    const more = byId('audit-more');
    let next = null;
    const cell = (row, text, className) => {
      const td = row.insertCell();
      td.textContent = text == null ? '' : String(text);
      if (className) td.className = className;
      return td;
    };
    const load = async () => {
      const params = new URLSearchParams(filters);
      params.set('limit', '100');
      params.set('order', 'desc');
      if (next !== null) params.set('after', String(next));
      more.hidden = true;
      const reply = await api('GET', '/api/v1/audit?' + params);
      if (reply.status !== 200 || !reply.body || !Array.isArray(reply.body.entries)) {
        const error = reply.body && reply.body.error;
        status.classList.add('error');
        show(status, t('audit_unavailable', { message: error ? error.message : 'HTTP ' + reply.status }));
        return;
      }
      for (const entry of reply.body.entries) {
        const row = body.insertRow();
        row.dataset.seq = entry.seq;
        cell(row, entry.seq, 'num');
        cell(row, formatTime(entry.at), 'nowrap');
        cell(row, entry.actor_kind && entry.actor_kind !== 'user' ? `${entry.actor} (${entry.actor_kind})` : entry.actor);
        cell(row, entry.address, 'small');
        cell(row, entry.action);
        cell(row, entry.entity_id ? `${entry.entity} ${entry.entity_id}` : entry.entity);
        const change = cell(row, '', 'small');
        if (entry.before != null || entry.after != null) {
          const details = document.createElement('details');
          const summary = document.createElement('summary');
          summary.textContent = entry.operation || entry.action;
          const pre = document.createElement('pre');
          pre.textContent = JSON.stringify({ before: entry.before, after: entry.after }, null, 2);
          details.append(summary, pre);
          change.append(details);
        } else if (entry.operation) {
          change.textContent = entry.operation;
        }
      }
      next = reply.body.next == null ? null : reply.body.next;
      table.hidden = body.rows.length === 0;
      if (body.rows.length === 0) {
        show(status, t('no_entries'));
      } else {
        status.textContent = '';
        status.hidden = true;
      }
      more.hidden = next === null;
    };
    more.addEventListener('click', load);
    load();
  }

  // The plant board and the andon: rendered from the board's JSON in the page, then from
  // every `board` event of GET /api/v1/floor/live (EventSource reconnects by itself).
  const board = byId('board');
  if (board) {
    const andon = board.classList.contains('andon');
    const status = byId('live-status');
    const empty = byId('board-empty');
    // Stops first on the andon: what the hall must see from afar.
    const rank = { down: 0, setup: 1, idle: 2, off: 3, unknown: 4, running: 5 };
    const stateText = {
      running: 'state_running',
      idle: 'state_idle',
      down: 'state_down',
      setup: 'state_setup',
      off: 'state_off',
      unknown: 'state_unknown',
    };
    const duration = (seconds) => {
      const s = Math.max(0, Math.floor(seconds));
      const h = Math.floor(s / 3600);
      const m = Math.floor((s % 3600) / 60);
      return h > 0 ? `${h}h ${String(m).padStart(2, '0')}m` : `${m}m ${String(s % 60).padStart(2, '0')}s`;
    };
    const percent = (x) => (x == null ? '–' : (x * 100).toFixed(1) + '%');
    const line = (parent, className, text) => {
      const p = document.createElement('p');
      p.className = className;
      p.textContent = text;
      parent.append(p);
      return p;
    };
    const render = (data) => {
      const stations = (data.stations || []).slice();
      const stateOf = (s) => s.state || 'unknown';
      stations.sort((a, b) =>
        andon
          ? rank[stateOf(a)] - rank[stateOf(b)] || (b.for_s || 0) - (a.for_s || 0)
          : String(a.line || '').localeCompare(String(b.line || '')) ||
            String(a.edge_id).localeCompare(String(b.edge_id)) ||
            String(a.station).localeCompare(String(b.station)));
      renderSpcAlarms(data.alarms || [], andon);
      board.replaceChildren();
      for (const s of stations) {
        const state = stateOf(s);
        const card = document.createElement('article');
        card.className = 'station state-' + state;
        card.dataset.edge = s.edge_id;
        card.dataset.station = s.station;
        card.dataset.state = state;
        const head = document.createElement('header');
        const name = document.createElement('h2');
        name.textContent = s.work_center || s.station || s.edge_id;
        const where = document.createElement('span');
        where.className = 'where';
        where.textContent = [s.line, s.edge_id + (s.station ? '/' + s.station : '')].filter(Boolean).join(' · ');
        head.append(name, where);
        card.append(head);
        const stateLine = line(card, 'state', t(stateText[state] || 'state_unknown'));
        if (s.for_s != null) stateLine.textContent += ' · ' + t('for_duration', { duration: duration(s.for_s) });
        if (state === 'down' || state === 'setup' || state === 'idle') {
          const reason = lang === 'zh' ? s.reason_name_zh || s.reason_name : s.reason_name;
          line(card, 'reason', reason || s.reason || t('no_reason'));
        }
        if (s.work_order) {
          const qty = s.order_qty ? ' ' + t('of_qty', { qty: s.order_qty }) : '';
          line(card, 'order', `${t('work_order')} ${s.work_order}${s.operation ? ' / ' + s.operation : ''}`);
          line(card, 'counts', `${t('good')} ${s.good}${qty} · ${t('scrap')} ${s.scrap}`);
        } else {
          line(card, 'order none', t('no_order'));
        }
        line(card, 'operator', s.operator ? `${t('operator')} ${s.operator}` : t('no_operator'));
        if (s.shift) line(card, 'shift-oee', `${t('shift_oee')} ${percent(s.shift.oee)}`);
        if (!andon) {
          line(card, 'edge', `${t('edge_health')}: ${t('last_contact')} ${s.last_contact ? formatTime(s.last_contact) : t('never')}` +
            ` · ${t('backlog')} ${s.backlog == null ? '–' : s.backlog} · ${t('plan_version')} ${s.plan_version_applied}`);
        }
        board.append(card);
      }
      if (empty) empty.hidden = stations.length > 0;
      board.dataset.generatedAt = data.generated_at || '';
      if (status) {
        status.dataset.state = 'live';
        status.textContent = t('live_on', { time: formatTime(data.generated_at) });
      }
    };
    const initial = byId('board-data');
    if (initial) render(JSON.parse(initial.textContent));
    if (window.EventSource) {
      const plant = board.dataset.plant;
      const source = new EventSource('/api/v1/floor/live' + (plant ? '?plant=' + encodeURIComponent(plant) : ''));
      source.addEventListener('board', (e) => render(JSON.parse(e.data)));
      // A kiosk whose session ended (its link revoked): the stream ends for good, and so
      // does the board.
      source.addEventListener('ended', () => {
        source.close();
        board.replaceChildren();
        if (status) {
          status.dataset.state = 'ended';
          status.textContent = t('kiosk_session_ended');
        }
      });
      source.addEventListener('error', () => {
        if (status) {
          status.dataset.state = 'lost';
          status.textContent = t('live_lost');
        }
      });
    }
  }

  // The OEE page, head office and SPC: their live part ([data-live]) is rendered on the
  // server; every `page` event of its feed (/floor/oee/live, /floor/plants/live,
  // /floor/spc/live, the page's query) is the same part rendered again after the floor
  // changed, swapped in whole, its charts drawn again (charts.js). EventSource reconnects by
  // itself after a restart.
  for (const part of document.querySelectorAll('[data-live]')) {
    if (!window.EventSource) break;
    const status = byId('live-status');
    const mark = (state, text) => {
      if (!status) return;
      status.dataset.state = state;
      status.textContent = text;
    };
    const source = new EventSource(part.dataset.live);
    source.addEventListener('page', (e) => {
      // The user's place on the page and the open charts' size survive the swap.
      const y = window.scrollY;
      part.innerHTML = e.data;
      if (window.mesCharts) window.mesCharts.draw(part);
      window.scrollTo(0, y);
      part.dataset.updates = String(Number(part.dataset.updates || '0') + 1);
      mark('live', t('live_on', { time: formatTime(new Date().toISOString()) }));
    });
    source.addEventListener('problem', (e) => mark('lost', e.data));
    source.addEventListener('error', () => mark('lost', t('live_lost')));
  }

  // ----------------------------------------------------------------------------------------
  // Work orders and traceability: an order's actions go to the API, which decides; the page
  // is then loaded again to show what the order became.

  for (const button of document.querySelectorAll('button.wo-action')) {
    button.addEventListener('click', async () => {
      const id = button.dataset.workOrder;
      const action = button.dataset.action;
      if (action === 'cancel' && !window.confirm(t('wo_confirm_cancel', { work_order: id }))) return;
      const error = byId('wo-action-error');
      if (error) error.hidden = true;
      button.disabled = true;
      const reply = await api('POST', '/api/v1/work-orders/' + encodeURIComponent(id) + '/' + action, {});
      if (reply.status >= 200 && reply.status < 300) {
        location.reload();
        return;
      }
      button.disabled = false;
      if (error) show(error, problem(reply));
    });
  }

  // ----------------------------------------------------------------------------------------
  // SPC: the open alarms above the board's stations (first on the andon too), each with an
  // acknowledge button on the board (POST /api/v1/spc/alarms/{id}/ack, floor.manage).
  function renderSpcAlarms(alarms, andon) {
    const box = byId('spc-alarms');
    if (!box) return;
    box.replaceChildren();
    box.hidden = alarms.length === 0;
    if (alarms.length === 0) return;
    const title = document.createElement('h2');
    title.textContent = t('spc_alarms_title');
    box.append(title);
    for (const a of alarms) {
      const item = document.createElement('article');
      item.className = 'spc-alarm';
      item.dataset.id = a.id;
      item.dataset.rule = a.rule;
      const text = document.createElement('p');
      const link = document.createElement('a');
      link.href = '/floor/spc?id=' + encodeURIComponent(a.characteristic);
      link.textContent = t('spc_alarm_text', {
        name: a.name, item: a.item, rule: a.rule, point: a.point, value: a.value,
      });
      text.append(link);
      const where = document.createElement('span');
      where.className = 'where';
      where.textContent = a.edge_id + (a.station ? '/' + a.station : '') + ' · ' + formatTime(a.at);
      text.append(' ', where);
      item.append(text);
      if (!andon) {
        const ack = document.createElement('button');
        ack.type = 'button';
        ack.className = 'small spc-ack';
        ack.textContent = t('spc_ack');
        ack.addEventListener('click', async () => {
          ack.disabled = true;
          const reply = await api('POST', '/api/v1/spc/alarms/' + encodeURIComponent(a.id) + '/ack');
          if (reply.status === 200) {
            item.remove();
            box.hidden = box.querySelectorAll('.spc-alarm').length === 0;
          } else {
            ack.disabled = false;
            text.append(' ' + problem(reply));
          }
        });
        item.append(ack);
      }
      box.append(item);
    }
  }

  // ----------------------------------------------------------------------------------------
  // CRM pipeline (/crm/pipeline): a card dragged to another stage's column (HTML5 drag and
  // drop), or its stage chosen in the card's select (phones cannot drag; keyboards can
  // choose), is moved by POST /api/v1/opportunities/{id}/stage with the version the page
  // showed; the page is then loaded again. Someone else's move meanwhile is refused (409)
  // and said so after the reload, never silently overridden.
  const pipelineBoard = byId('pipeline-board');
  if (pipelineBoard) {
    const pipelineError = byId('pipeline-error');
    const noticeKey = 'mes-pipeline-notice';
    const notice = window.sessionStorage.getItem(noticeKey);
    if (notice && pipelineError) {
      window.sessionStorage.removeItem(noticeKey);
      show(pipelineError, notice);
    }
    const canWrite = pipelineBoard.dataset.canWrite === 'true';
    const moveDeal = async (card, stage) => {
      const select = card.querySelector('select.deal-stage');
      const back = () => {
        if (select) select.value = card.dataset.stage;
      };
      if (!canWrite || !stage || stage === card.dataset.stage) return back();
      const title = card.dataset.title;
      const body = { stage, version: Number(card.dataset.version) };
      if (stage === 'lost') {
        const reason = window.prompt(t('pipeline_lost_reason', { title }));
        if (!reason || !reason.trim()) return back();
        body.lost_reason = reason.trim();
      }
      if (card.dataset.closed === 'true' && stage !== 'won' && stage !== 'lost') {
        if (!window.confirm(t('pipeline_confirm_reopen', { title }))) return back();
        body.reopen = true;
      }
      if (pipelineError) pipelineError.hidden = true;
      card.classList.add('moving');
      if (select) select.disabled = true;
      const reply = await api('POST', '/api/v1/opportunities/' + encodeURIComponent(card.dataset.id) + '/stage', body);
      if (reply.status === 200) {
        location.reload();
        return undefined;
      }
      card.classList.remove('moving');
      if (select) select.disabled = false;
      back();
      if (reply.status === 409) {
        const error = reply.body && reply.body.error;
        window.sessionStorage.setItem(noticeKey, t('pipeline_conflict', { message: error ? error.message : '' }));
        location.reload();
        return undefined;
      }
      if (pipelineError) show(pipelineError, problem(reply));
      return undefined;
    };
    for (const card of pipelineBoard.querySelectorAll('.deal')) {
      const select = card.querySelector('select.deal-stage');
      if (select) select.addEventListener('change', () => moveDeal(card, select.value));
      card.addEventListener('dragstart', (event) => {
        event.dataTransfer.setData('text/plain', card.dataset.id);
        event.dataTransfer.effectAllowed = 'move';
        card.classList.add('dragging');
      });
      card.addEventListener('dragend', () => card.classList.remove('dragging'));
    }
    for (const column of pipelineBoard.querySelectorAll('.pipeline-column')) {
      column.addEventListener('dragover', (event) => {
        if (!canWrite) return;
        event.preventDefault();
        event.dataTransfer.dropEffect = 'move';
        column.classList.add('drop-target');
      });
      column.addEventListener('dragleave', (event) => {
        if (!column.contains(event.relatedTarget)) column.classList.remove('drop-target');
      });
      column.addEventListener('drop', (event) => {
        event.preventDefault();
        column.classList.remove('drop-target');
        const id = event.dataTransfer.getData('text/plain');
        const card = pipelineBoard.querySelector('.deal[data-id="' + CSS.escape(id) + '"]');
        if (card) moveDeal(card, column.dataset.stage);
      });
    }
  }

  // The CRM (issue 16): customers, contacts, activities, tasks and business cards. Every
  // change goes to the JSON API, which decides; the page is then read again to show it.

  /** `a, b；c` → ['a', 'b', 'c']: tags typed with Western or Chinese commas. */
  const listOf = (text) => text.split(/[,，;；、]/).map((x) => x.trim()).filter(Boolean);
  const valueOf = (id) => {
    const element = byId(id);
    return element ? element.value.trim() : '';
  };

  const customerForm = byId('crm-customer-form');
  if (customerForm) {
    const editing = customerForm.dataset.mode === 'edit';
    const editButton = byId('crm-edit');
    if (editButton) {
      editButton.addEventListener('click', () => {
        customerForm.hidden = false;
        editButton.hidden = true;
        byId('c-name-zh').focus();
      });
      customerForm.addEventListener('reset', () => {
        customerForm.hidden = true;
        editButton.hidden = false;
      });
    }
    customerForm.addEventListener('submit', async (event) => {
      event.preventDefault();
      const error = byId('crm-customer-error');
      error.hidden = true;
      // An edit sends the customer as it was with the form's fields over it: its addresses,
      // credit limit and group stay as they are.
      const body = editing ? JSON.parse(customerForm.dataset.customer) : {};
      body.name_zh = valueOf('c-name-zh');
      body.name_en = valueOf('c-name-en');
      body.industry = valueOf('c-industry');
      body.region = valueOf('c-region');
      body.tags = listOf(valueOf('c-tags'));
      body.payment_terms = valueOf('c-terms');
      body.currency = valueOf('c-currency').toUpperCase();
      if (byId('c-tax-id')) body.tax_id = valueOf('c-tax-id');
      let reply;
      if (editing) {
        reply = await api('PUT', '/api/v1/customers/' + encodeURIComponent(customerForm.dataset.code), body);
      } else {
        if (valueOf('c-code')) body.code = valueOf('c-code');
        reply = await api('POST', '/api/v1/customers', body);
      }
      if ((reply.status === 200 || reply.status === 201) && reply.body) {
        location.assign('/crm/customers/' + encodeURIComponent(reply.body.code));
      } else {
        show(error, problem(reply));
      }
    });
  }

  /** Posts an activity from one of the forms on a customer's or contact's page. */
  function activityForm(form, errorId, fields) {
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      const error = byId(errorId);
      error.hidden = true;
      const body = fields();
      const contact = body.contact || form.dataset.contact;
      if (contact) body.contact = Number(contact);
      else delete body.contact;
      if (form.dataset.customer) body.customer = form.dataset.customer;
      const button = form.querySelector('button[type="submit"]');
      button.disabled = true;
      const reply = await api('POST', '/api/v1/activities', body);
      if (reply.status === 201) {
        location.reload();
      } else {
        button.disabled = false;
        show(error, problem(reply));
      }
    });
  }
  const logForm = byId('crm-activity-form');
  if (logForm) {
    activityForm(logForm, 'crm-activity-error', () => {
      const body = { kind: valueOf('a-kind'), subject: valueOf('a-subject'), body: valueOf('a-body') };
      if (valueOf('a-contact')) body.contact = valueOf('a-contact');
      const at = zonedToUtc(valueOf('a-at'));
      if (at) body.at = at;
      return body;
    });
  }
  const taskForm = byId('crm-task-form');
  if (taskForm) {
    activityForm(taskForm, 'crm-task-error', () => ({
      kind: 'task',
      subject: valueOf('task-subject'),
      body: valueOf('task-body'),
      due: valueOf('task-due'),
    }));
  }

  for (const button of document.querySelectorAll('button.crm-done')) {
    button.addEventListener('click', async () => {
      button.disabled = true;
      const reply = await api('POST', '/api/v1/activities/' + encodeURIComponent(button.dataset.activity) + '/done', { done: true });
      if (reply.status === 200) {
        location.reload();
      } else {
        button.disabled = false;
        const error = byId('crm-done-error') || byId('crm-activity-error');
        if (error) show(error, problem(reply));
      }
    });
  }

  const mergeForm = byId('crm-merge-form');
  if (mergeForm) {
    mergeForm.addEventListener('submit', async (event) => {
      event.preventDefault();
      const error = byId('crm-merge-error');
      error.hidden = true;
      const into = Number(valueOf('merge-into-id') || valueOf('merge-into'));
      if (!into) {
        show(error, t('crm_merge_choose'));
        return;
      }
      if (!confirm(t('crm_confirm_merge', { name: mergeForm.dataset.name, into }))) return;
      const reply = await api('POST', '/api/v1/contacts/' + into + '/merge', { from: Number(mergeForm.dataset.contact) });
      if (reply.status === 200) {
        location.assign('/crm/contacts/' + into);
      } else {
        show(error, problem(reply));
      }
    });
  }

  for (const button of document.querySelectorAll('button.crm-resolve')) {
    button.addEventListener('click', async () => {
      const action = button.dataset.action;
      if (action === 'discard' && !confirm(t('crm_confirm_discard'))) return;
      const body = { action };
      if (action === 'merge') body.into = Number(button.dataset.into);
      button.disabled = true;
      const reply = await api('POST', '/api/v1/crm/duplicates/' + encodeURIComponent(button.dataset.duplicate) + '/resolve', body);
      if (reply.status === 200) {
        location.reload();
      } else {
        button.disabled = false;
        show(byId('crm-resolve-error'), problem(reply));
      }
    });
  }

  // Business cards: the file is read here and posted as it is, with the content type its
  // name says (`.csv`: text/csv, else text/vcard) and the charset chosen; what the import
  // did is kept for the page read again after it (its duplicates are listed there).
  const importForm = byId('crm-import-form');
  if (importForm) {
    const resultKey = 'crm-import-result';
    const renderResult = (saved) => {
      const outcome = saved.outcome;
      byId('crm-import-heading').textContent = t('crm_import_done', { file: saved.file });
      const counts = byId('crm-import-counts');
      counts.replaceChildren();
      const fact = (key, value, id) => {
        const box = document.createElement('div');
        const dt = document.createElement('dt');
        dt.textContent = t(key);
        const dd = document.createElement('dd');
        dd.textContent = String(value);
        dd.id = id;
        box.append(dt, dd);
        counts.append(box);
      };
      fact('crm_import_cards', outcome.cards, 'import-cards');
      fact('crm_import_contacts', outcome.contacts_created.length, 'import-contacts');
      fact('crm_import_customers', outcome.customers_created.length, 'import-customers');
      fact('crm_import_joined', outcome.customers_matched.length, 'import-joined');
      fact('crm_import_duplicates', outcome.duplicates.length, 'import-duplicates');
      const links = (box, key, items) => {
        box.replaceChildren();
        if (items.length === 0) return;
        const p = document.createElement('p');
        p.append(t(key) + ' ');
        for (const [text, code] of items) {
          const a = document.createElement('a');
          a.href = '/crm/customers/' + encodeURIComponent(code);
          a.textContent = text;
          a.className = 'tag';
          p.append(a, ' ');
        }
        box.append(p);
      };
      links(byId('crm-import-customers'), 'crm_import_new_customers', outcome.customers_created.map((c) => [c, c]));
      links(byId('crm-import-joined'), 'crm_import_joined_customers',
        outcome.customers_matched.map((m) => [`${m.company} → ${m.customer}`, m.customer]));
      byId('crm-import-duplicates').textContent =
        outcome.duplicates.length > 0 ? t('crm_import_duplicates_below', { n: outcome.duplicates.length }) : '';
      byId('crm-import-result').hidden = false;
    };
    const renderErrors = (reply) => {
      const box = byId('crm-import-errors');
      const error = reply.body && reply.body.error;
      const mistakes = error && (error.code === 'invalid_vcard' || error.code === 'invalid_csv') && error.details;
      byId('crm-import-message').textContent = mistakes
        ? t('crm_import_mistakes', { n: mistakes.length })
        : problem(reply);
      const body = byId('crm-import-error-list').querySelector('tbody');
      body.replaceChildren();
      for (const d of (error && error.details) || []) {
        const row = body.insertRow();
        const card = /^card (\d+)/.exec(d.message || '');
        row.insertCell().textContent = card
          ? t('crm_error_card_line', { card: card[1], line: d.line })
          : t('crm_error_line', { line: d.line });
        row.insertCell().textContent = d.column;
        row.insertCell().textContent = d.message;
      }
      byId('crm-import-error-list').hidden = body.rows.length === 0;
      box.hidden = false;
    };
    try {
      const saved = sessionStorage.getItem(resultKey);
      if (saved) {
        sessionStorage.removeItem(resultKey);
        renderResult(JSON.parse(saved));
      }
    } catch (e) {
      // No storage (a private window): the duplicates below still show what waits.
    }
    importForm.addEventListener('submit', async (event) => {
      event.preventDefault();
      byId('crm-import-result').hidden = true;
      byId('crm-import-errors').hidden = true;
      const file = byId('import-file').files[0];
      if (!file) return;
      const csv = /\.csv$/i.test(file.name) || file.type === 'text/csv';
      const type = (csv ? 'text/csv' : 'text/vcard') + '; charset=' + valueOf('import-charset');
      const button = byId('crm-import');
      button.disabled = true;
      let reply;
      try {
        const response = await fetch(csv ? '/api/v1/import/contacts' : '/api/v1/import/vcards', {
          method: 'POST',
          headers: { accept: 'application/json', 'content-type': type, 'x-csrf-token': csrf },
          body: await file.arrayBuffer(),
          credentials: 'same-origin',
        });
        const text = await response.text();
        let parsed = null;
        try {
          parsed = text ? JSON.parse(text) : null;
        } catch (e) {
          parsed = null;
        }
        reply = { status: response.status, body: parsed, headers: response.headers };
      } catch (e) {
        reply = { status: 0, body: null, headers: new Headers() };
      }
      button.disabled = false;
      if (reply.status === 200 && reply.body) {
        const saved = { file: file.name, outcome: reply.body };
        try {
          sessionStorage.setItem(resultKey, JSON.stringify(saved));
          location.reload();
        } catch (e) {
          renderResult(saved);
        }
      } else {
        renderErrors(reply);
      }
    });
  }

  // Quotations and sales orders (issue 16, /crm/quotations, /crm/orders): every change goes
  // to the JSON API, which decides; the page is then read again (or the new document's page
  // opened) to show it.
  const quotationForm = byId('sales-quotation-form');
  if (quotationForm) {
    const body = quotationForm.querySelector('#q-lines tbody');
    const template = body.querySelector('tr.q-line').cloneNode(true);
    const wireRemove = (row) => {
      row.querySelector('.l-remove').addEventListener('click', () => {
        if (body.rows.length > 1) row.remove();
        else for (const input of row.querySelectorAll('input')) input.value = '';
      });
    };
    // A draft's editor starts with its lines; the new quotation's form with one empty line.
    for (const row of body.querySelectorAll('tr.q-line')) wireRemove(row);
    byId('q-add-line').addEventListener('click', () => {
      const row = template.cloneNode(true);
      for (const input of row.querySelectorAll('input')) input.value = '';
      body.appendChild(row);
      wireRemove(row);
      row.querySelector('.l-item').focus();
    });
    quotationForm.addEventListener('submit', async (event) => {
      event.preventDefault();
      const error = byId('sales-quotation-error');
      error.hidden = true;
      const lines = [];
      for (const row of body.querySelectorAll('tr.q-line')) {
        const item = row.querySelector('.l-item').value.trim();
        if (!item) continue;
        const line = { item, qty: row.querySelector('.l-qty').value.trim() };
        const price = row.querySelector('.l-price').value.trim();
        const discount = row.querySelector('.l-discount').value.trim();
        if (price) line.unit_price = price;
        if (discount) line.discount_pct = discount;
        lines.push(line);
      }
      // On a draft's page the form edits that draft (PUT, the whole draft); on the list it
      // makes a new quotation.
      const draft = quotationForm.dataset.id;
      const header = draft ? JSON.parse(quotationForm.dataset.header) : { customer: valueOf('q-customer') };
      const quotation = Object.assign(header, { note: valueOf('q-note'), lines });
      if (valueOf('q-tax')) quotation.tax_code = valueOf('q-tax');
      const button = byId(draft ? 'sales-save-quotation' : 'sales-create-quotation');
      button.disabled = true;
      const reply = draft
        ? await api('PUT', '/api/v1/quotations/' + encodeURIComponent(draft), quotation)
        : await api('POST', '/api/v1/quotations', quotation);
      if ((reply.status === 201 || reply.status === 200) && reply.body) {
        if (draft) location.reload();
        else location.assign('/crm/quotations/' + reply.body.id);
      } else {
        button.disabled = false;
        show(error, problem(reply));
      }
    });
  }

  /** A credit refusal's figures in the page's language (the API's message is English). */
  function creditText(message) {
    const m = /credit limit of ([\d.]+) by ([\d.]+): open orders ([\d.]+) \+ this order ([\d.]+)/.exec(message || '');
    if (!m) return message || '';
    return t('sales_credit_figures', { limit: m[1], over: m[2], open: m[3], this: m[4] });
  }

  const salesActions = byId('sales-actions');
  if (salesActions) {
    const kind = salesActions.dataset.kind;
    const id = salesActions.dataset.id;
    const reference = salesActions.dataset.reference;
    const base = kind === 'order' ? '/api/v1/sales-orders/' : '/api/v1/quotations/';
    const pageOf = kind === 'order' ? '/crm/orders/' : '/crm/quotations/';
    const error = byId('sales-error');
    for (const button of salesActions.querySelectorAll('button[data-action]')) {
      button.addEventListener('click', async () => {
        const action = button.dataset.action;
        let body = {};
        if (action === 'send' && !confirm(t('sales_confirm_send', { reference }))) return;
        if (action === 'reprice' && button.dataset.newRevision === 'true'
          && !confirm(t('sales_confirm_reprice_revision', { reference }))) return;
        if (action === 'reject' || action === 'cancel') {
          const reason = prompt(t(action === 'reject' ? 'sales_reject_reason' : 'sales_cancel_reason', { reference }));
          if (reason === null) return;
          body = { reason };
        }
        error.hidden = true;
        byId('sales-credit').hidden = true;
        button.disabled = true;
        const reply = await api('POST', base + encodeURIComponent(id) + '/' + action, body);
        button.disabled = false;
        if (reply.status === 200 && reply.body) {
          // A revision (or a re-priced sent one) is a new document: open it.
          if (String(reply.body.id) !== String(id)) location.assign(pageOf + reply.body.id);
          else location.reload();
        } else if (reply.body && reply.body.error && reply.body.error.code === 'credit_limit') {
          byId('sales-credit-text').textContent = creditText(reply.body.error.message);
          byId('sales-credit').hidden = false;
        } else {
          show(error, problem(reply));
        }
      });
    }
    const linkButton = byId('sales-status-link');
    if (linkButton) {
      linkButton.addEventListener('click', async () => {
        const reply = await api('GET', base + encodeURIComponent(id) + '/status-link');
        if (reply.status !== 200 || !reply.body) {
          show(error, problem(reply));
          return;
        }
        const input = byId('sales-link');
        input.value = location.origin + reply.body.page;
        byId('sales-link-box').hidden = false;
        input.select();
        try {
          await navigator.clipboard.writeText(input.value);
          byId('sales-link-copied').hidden = false;
        } catch (e) {
          // No clipboard (plain http, or refused): the link is selected to copy by hand.
        }
      });
    }
  }

  const orderForm = byId('sales-order-form');
  if (orderForm) {
    orderForm.addEventListener('submit', async (event) => {
      event.preventDefault();
      const error = byId('sales-order-error');
      error.hidden = true;
      let whole = true;
      const picks = [];
      for (const input of orderForm.querySelectorAll('input.o-qty')) {
        const qty = input.value.trim();
        if (qty !== input.dataset.left) whole = false;
        if (qty && Number(qty) !== 0) picks.push({ line: Number(input.dataset.line), qty });
      }
      if (picks.length === 0) {
        show(error, t('sales_nothing_to_order'));
        return;
      }
      const order = { quotation: Number(orderForm.dataset.quotation), customer_po: valueOf('o-po') };
      if (!whole) order.quoted_lines = picks;
      const button = byId('sales-create-order');
      button.disabled = true;
      const reply = await api('POST', '/api/v1/sales-orders', order);
      if (reply.status === 201 && reply.body) {
        location.assign('/crm/orders/' + reply.body.id);
      } else {
        button.disabled = false;
        show(error, problem(reply));
      }
    });
  }

  // Requests and approvals (issue 17, /oa): the API decides every change; the page is read
  // again after it.
  const oaInbox = byId('oa-inbox');
  if (oaInbox) {
    const picks = () => [...oaInbox.querySelectorAll('input.oa-pick:checked')].map((i) => i.value);
    byId('oa-pick-all').addEventListener('change', (event) => {
      for (const box of oaInbox.querySelectorAll('input.oa-pick')) box.checked = event.target.checked;
    });
    const decideAll = async (action, button) => {
      const error = byId('oa-bulk-error');
      error.hidden = true;
      const ids = picks();
      if (ids.length === 0) return show(error, t('oa_pick_some'));
      const comment = byId('oa-bulk-comment').value.trim();
      if (action !== 'approve' && !comment) return show(error, t('oa_comment_needed'));
      button.disabled = true;
      // One at a time: each is its own decision in each request's trail.
      for (const id of ids) {
        const reply = await api('POST', '/api/v1/oa/requests/' + encodeURIComponent(id) + '/' + action, { comment });
        if (reply.status !== 200) {
          button.disabled = false;
          return show(error, problem(reply));
        }
      }
      location.reload();
    };
    byId('oa-approve-picked').addEventListener('click', (e) => decideAll('approve', e.target));
    byId('oa-reject-picked').addEventListener('click', (e) => decideAll('reject', e.target));
  }

  // The office's tasks on /oa: done with what was booked, which the traveller is told.
  for (const button of document.querySelectorAll('button.oa-task-done')) {
    button.addEventListener('click', async () => {
      const error = byId('oa-task-error');
      const note = button.closest('tr').querySelector('input.oa-task-note').value.trim();
      button.disabled = true;
      const reply = await api('POST', '/api/v1/oa/tasks/' + encodeURIComponent(button.dataset.task) + '/done', { note });
      if (reply.status === 200) return location.reload();
      button.disabled = false;
      show(error, problem(reply));
    });
  }

  const markRead = byId('oa-mark-read');
  if (markRead) {
    markRead.addEventListener('click', async () => {
      markRead.disabled = true;
      const reply = await api('POST', '/api/v1/notifications/read', {});
      if (reply.status === 200) location.reload();
      else markRead.disabled = false;
    });
  }

  // The administrator's editors (/oa/admin): a form or a workflow as JSON, checked by the API
  // when saved; its problems are shown under the editor.
  for (const button of document.querySelectorAll('button.oa-save')) {
    button.addEventListener('click', async () => {
      const box = button.closest('details');
      const error = box.querySelector('p.error');
      const saved = box.querySelector('p.ok');
      error.hidden = true;
      saved.hidden = true;
      const kind = button.dataset.kind;
      const text = box.querySelector('textarea[data-kind="' + kind + '"]').value;
      let body;
      try {
        body = JSON.parse(text);
      } catch (e) {
        return show(error, e.message);
      }
      const key = button.dataset.form || body.key || '';
      const path = kind === 'form' ? '/api/v1/oa/forms/' : '/api/v1/oa/workflows/';
      button.disabled = true;
      const reply = await api('PUT', path + encodeURIComponent(key), body);
      button.disabled = false;
      if (reply.status === 200 || reply.status === 201) {
        saved.hidden = false;
        if (!button.dataset.form) location.reload();
      } else {
        show(error, problem(reply));
      }
    });
  }

  const oaNew = byId('oa-new-form');
  if (oaNew) {
    oaNew.addEventListener('submit', async (event) => {
      event.preventDefault();
      const error = byId('oa-new-error');
      error.hidden = true;
      const values = {};
      const button = byId('oa-submit');
      for (const field of oaNew.querySelectorAll('.field')) {
        const name = field.dataset.field;
        const value = (selector) => (field.querySelector(selector).value || '').trim();
        if (field.dataset.kind === 'attachment') {
          // The file is kept first; the field holds its SHA-256.
          const file = field.querySelector('.file').files[0];
          if (!file) continue;
          button.disabled = true;
          let reply;
          try {
            const response = await fetch('/api/v1/oa/attachments?name=' + encodeURIComponent(file.name), {
              method: 'POST',
              headers: { 'x-csrf-token': csrf, 'content-type': 'application/octet-stream', accept: 'application/json' },
              body: file,
              credentials: 'same-origin',
            });
            reply = { status: response.status, body: await response.json().catch(() => null) };
          } catch (e) {
            reply = { status: 0, body: null };
          }
          button.disabled = false;
          if (reply.status !== 201 || !reply.body) return show(error, name + ': ' + problem(reply));
          values[name] = reply.body.sha256;
        } else if (field.dataset.kind === 'money') {
          if (value('.amount')) values[name] = { amount: value('.amount'), currency: value('.currency').toUpperCase() };
        } else if (field.dataset.kind === 'date_range') {
          if (value('.from') || value('.to')) values[name] = { from: value('.from'), to: value('.to') };
        } else if (value('.v')) {
          values[name] = value('.v');
        }
      }
      button.disabled = true;
      const reply = await api('POST', '/api/v1/oa/requests', { form: oaNew.dataset.form, values });
      if (reply.status === 201 && reply.body) {
        location.assign('/oa/requests/' + reply.body.id);
      } else {
        button.disabled = false;
        show(error, problem(reply));
      }
    });
  }

  const oaActions = byId('oa-actions');
  if (oaActions) {
    for (const button of oaActions.querySelectorAll('button[data-action]')) {
      button.addEventListener('click', async () => {
        const error = byId('oa-error');
        error.hidden = true;
        const comment = byId('oa-comment').value.trim();
        const action = button.dataset.action;
        if ((action === 'reject' || action === 'return') && !comment) return show(error, t('oa_comment_needed'));
        button.disabled = true;
        const reply = await api('POST', '/api/v1/oa/requests/' + encodeURIComponent(oaActions.dataset.id) + '/' + action, { comment });
        if (reply.status === 200) location.reload();
        else {
          button.disabled = false;
          show(error, problem(reply));
        }
      });
    }
  }

  // For the tests and anyone curious: the language and zone the page runs in.
  document.documentElement.dataset.ready = lang + ' ' + timeZone;
})();
