// The herald debug console. Plain browser JavaScript, no dependencies.
//
// Every request carries the admin token as `Authorization: Bearer`; the live stream is read
// with fetch() rather than EventSource so the token stays in a header and out of URLs.
// Server data only ever reaches the page through textContent, never as HTML.
'use strict';

(() => {
  const TOKEN_KEY = 'herald-console-token';
  const MAX_LINES = 500;
  const POLL_MS = 1000;
  const MOVES_COUNTS = new Set(['connection_opened', 'connection_closed', 'subscribed', 'unsubscribed']);

  const $ = (id) => document.getElementById(id);
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
  const plural = (n, word) => (n === 1 ? word : `${word}s`);

  let token = sessionStorage.getItem(TOKEN_KEY) || '';
  let appId = null;
  let stopStream = null;
  let pollTimer = null;
  let pollBusy = null; // the generation whose poll is in flight
  let refreshQueued = false;
  let generation = 0; // bumped on app switch and sign-out; stale responses are dropped

  class Unauthorized extends Error {}

  async function api(path, { method = 'GET', body } = {}) {
    const headers = { Authorization: `Bearer ${token}` };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    const res = await fetch(`/console/api/${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: 'no-store',
    });
    if (res.status === 401) throw new Unauthorized();
    const answer = await res.json().catch(() => ({}));
    if (!res.ok) throw new Error(answer.error || `HTTP ${res.status}`);
    return answer;
  }

  // ---------------------------------------------------------------------------------------
  // Signing in and out
  // ---------------------------------------------------------------------------------------

  async function signIn(candidate) {
    token = candidate;
    const { apps } = await api('apps');
    sessionStorage.setItem(TOKEN_KEY, token);
    $('login').hidden = true;
    $('console').hidden = false;
    const picker = $('app');
    picker.replaceChildren(
      ...apps.map((app) => {
        const option = document.createElement('option');
        option.value = app.id;
        option.textContent = `${app.id} (${app.key})${app.enabled ? '' : ' — disabled'}`;
        return option;
      }),
    );
    const wanted = new URLSearchParams(location.hash.slice(1)).get('app');
    if (apps.some((a) => a.id === wanted)) picker.value = wanted;
    selectApp(picker.value);
  }

  function signOut(message) {
    generation += 1;
    stopWatching();
    token = '';
    sessionStorage.removeItem(TOKEN_KEY);
    $('console').hidden = true;
    $('login').hidden = false;
    $('token').value = '';
    showLoginError(message);
    $('token').focus();
  }

  function showLoginError(message) {
    $('login-error').textContent = message || '';
    $('login-error').hidden = !message;
  }

  /** Routes an error from any request: a refused token ends the session. */
  function failed(error) {
    if (error instanceof Unauthorized) signOut('The server refused the token. Enter it again.');
    else showBanner(error.message);
  }

  function showBanner(message) {
    $('console-error').textContent = message || '';
    $('console-error').hidden = !message;
  }

  // ---------------------------------------------------------------------------------------
  // One app: counts and channels (polled), events (streamed)
  // ---------------------------------------------------------------------------------------

  function selectApp(id) {
    generation += 1;
    stopWatching();
    appId = id;
    history.replaceState(null, '', `#app=${encodeURIComponent(id)}`);
    clearLog();
    $('channels').tBodies[0].replaceChildren();
    showBanner('');
    poll(generation);
    stopStream = watch(id, generation);
  }

  function stopWatching() {
    clearTimeout(pollTimer);
    if (stopStream) stopStream();
    stopStream = null;
  }

  async function poll(gen) {
    pollBusy = gen;
    refreshQueued = false;
    try {
      const answer = await api(`apps/${encodeURIComponent(appId)}/channels`);
      if (gen !== generation) return;
      renderChannels(answer);
      showBanner('');
    } catch (e) {
      if (gen !== generation) return;
      failed(e);
      if (e instanceof Unauthorized) return;
    } finally {
      if (pollBusy === gen) pollBusy = null;
    }
    pollTimer = setTimeout(() => poll(gen), POLL_MS);
  }

  /** Polls early after a change that moves the counts (a join, a leave), at most once per burst. */
  function refreshSoon() {
    if (pollBusy === generation || refreshQueued) return;
    refreshQueued = true;
    clearTimeout(pollTimer);
    pollTimer = setTimeout(() => poll(generation), 100);
  }

  function renderChannels({ connections, total, truncated, channels }) {
    $('connections').textContent = connections;
    $('connections-label').textContent = plural(connections, 'connection');
    $('channel-count').textContent = total;
    $('channel-count-label').textContent = plural(total, 'channel');
    const rows = channels.map((c) => {
      const tr = document.createElement('tr');
      tr.dataset.channel = c.name;
      tr.title = 'Filter the events by this channel';
      for (const [value, cls] of [[c.name, ''], [c.subscription_count, 'num'], [c.user_count ?? '–', 'num']]) {
        const td = document.createElement('td');
        td.textContent = value;
        if (cls) td.className = cls;
        tr.append(td);
      }
      return tr;
    });
    $('channels').tBodies[0].replaceChildren(...rows);
    $('channels-empty').hidden = channels.length > 0;
    $('channels-truncated').hidden = !truncated;
    $('channels-truncated').textContent = truncated ? `Showing the first ${channels.length} of ${total}.` : '';
  }

  /** Reads the app's event stream, reconnecting until stopped; returns the stop function. */
  function watch(id, gen) {
    const abort = new AbortController();
    (async () => {
      let backoff = 500;
      while (!abort.signal.aborted) {
        setStreamState('connecting');
        try {
          const res = await fetch(`/console/api/apps/${encodeURIComponent(id)}/stream`, {
            headers: { Authorization: `Bearer ${token}`, Accept: 'text/event-stream' },
            cache: 'no-store',
            signal: abort.signal,
          });
          if (res.status === 401) throw new Unauthorized();
          if (!res.ok) throw new Error(`event stream: HTTP ${res.status}`);
          const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
          let buffer = '';
          for (;;) {
            const { value, done } = await reader.read();
            if (done) break;
            buffer += value;
            let end;
            while ((end = buffer.indexOf('\n\n')) >= 0) {
              const frame = buffer.slice(0, end);
              buffer = buffer.slice(end + 2);
              if (onFrame(frame)) backoff = 500;
            }
          }
        } catch (e) {
          if (abort.signal.aborted || gen !== generation) return;
          if (e instanceof Unauthorized) return failed(e);
        }
        if (abort.signal.aborted) return;
        setStreamState('reconnecting');
        await sleep(backoff);
        backoff = Math.min(backoff * 2, 5000);
      }
    })();
    return () => abort.abort();
  }

  /** Handles one SSE frame; true when it was the stream's greeting. */
  function onFrame(frame) {
    let event = 'message';
    let data = '';
    for (const line of frame.split('\n')) {
      if (line.startsWith(':')) continue;
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
      if (field === 'event') event = value;
      else if (field === 'data') data += data ? `\n${value}` : value;
    }
    if (!data) return false;
    const payload = JSON.parse(data);
    if (event === 'ready') {
      setStreamState('live');
      return true;
    }
    if (event === 'lagged') {
      addLine({ time_ms: Date.now(), kind: 'lagged', detail: `${payload.missed} events skipped (the console fell behind)` });
    } else {
      addLine(payload);
      if (MOVES_COUNTS.has(payload.kind)) refreshSoon();
    }
    return false;
  }

  function setStreamState(state) {
    const pill = $('stream-state');
    pill.dataset.state = state;
    pill.textContent = state;
  }

  // ---------------------------------------------------------------------------------------
  // The events log and its filters
  // ---------------------------------------------------------------------------------------

  function formatTime(ms) {
    const d = new Date(ms);
    const pad = (n, w = 2) => String(n).padStart(w, '0');
    return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
  }

  function span(cls, text) {
    const s = document.createElement('span');
    s.className = cls;
    s.textContent = text;
    return s;
  }

  function addLine(e) {
    const li = document.createElement('li');
    li.dataset.kind = e.kind;
    li.dataset.channel = e.channel || '';
    li.dataset.event = e.event || '';
    const what = span('what', '');
    if (e.channel) what.append(span('channel', e.channel), ' ');
    if (e.event) what.append(span('event', e.event), ' ');
    if (e.socket_id) what.append(span('socket', `socket ${e.socket_id}`), ' ');
    if (e.detail) what.append(span('detail', e.detail));
    li.append(span('time', formatTime(e.time_ms)), span(`kind ${e.kind}`, e.kind), what);
    li.hidden = !matches(li);
    const log = $('log');
    log.prepend(li);
    while (log.childElementCount > MAX_LINES) log.lastElementChild.remove();
    updateLogCount();
  }

  function filters() {
    return {
      channel: $('filter-channel').value.trim().toLowerCase(),
      event: $('filter-event').value.trim().toLowerCase(),
      kind: $('filter-kind').value,
    };
  }

  function matches(li, f = filters()) {
    return (
      (!f.channel || li.dataset.channel.toLowerCase().includes(f.channel)) &&
      (!f.event || li.dataset.event.toLowerCase().includes(f.event)) &&
      (!f.kind || li.dataset.kind === f.kind)
    );
  }

  function applyFilters() {
    const f = filters();
    for (const li of $('log').children) li.hidden = !matches(li, f);
    updateLogCount();
  }

  function updateLogCount() {
    const all = $('log').childElementCount;
    const shown = [...$('log').children].filter((li) => !li.hidden).length;
    $('log-count').textContent = all ? (shown === all ? `${all} events` : `${shown} of ${all} shown`) : '';
    $('log-empty').hidden = all > 0;
  }

  function clearLog() {
    $('log').replaceChildren();
    updateLogCount();
  }

  // ---------------------------------------------------------------------------------------
  // The trigger form
  // ---------------------------------------------------------------------------------------

  async function sendEvent(event) {
    event.preventDefault();
    const result = $('t-result');
    const channels = $('t-channels').value.split(',').map((c) => c.trim()).filter(Boolean);
    const body = { channels, name: $('t-event').value.trim(), data: $('t-data').value };
    $('t-send').disabled = true;
    result.className = '';
    result.textContent = 'Sending…';
    try {
      await api(`apps/${encodeURIComponent(appId)}/events`, { method: 'POST', body });
      result.className = 'ok';
      result.textContent = `Sent to ${channels.length} ${plural(channels.length, 'channel')}.`;
    } catch (e) {
      if (e instanceof Unauthorized) return failed(e);
      result.className = 'bad';
      result.textContent = e.message;
    } finally {
      $('t-send').disabled = false;
    }
  }

  // ---------------------------------------------------------------------------------------
  // Wiring
  // ---------------------------------------------------------------------------------------

  document.addEventListener('DOMContentLoaded', () => {
    $('login-form').addEventListener('submit', async (event) => {
      event.preventDefault();
      showLoginError('');
      try {
        await signIn($('token').value.trim());
      } catch (e) {
        token = '';
        showLoginError(e instanceof Unauthorized ? 'Wrong token: the server refused it.' : `Could not reach the server: ${e.message}`);
      }
    });
    $('sign-out').addEventListener('click', () => signOut(''));
    $('app').addEventListener('change', (event) => selectApp(event.target.value));
    for (const id of ['filter-channel', 'filter-event', 'filter-kind']) $(id).addEventListener('input', applyFilters);
    $('log-clear').addEventListener('click', clearLog);
    $('trigger').addEventListener('submit', sendEvent);
    $('channels').tBodies[0].addEventListener('click', (event) => {
      const row = event.target.closest('tr');
      if (!row) return;
      $('filter-channel').value = row.dataset.channel;
      $('t-channels').value = row.dataset.channel;
      applyFilters();
    });
    if (token) signIn(token).catch(() => signOut(''));
  });
})();
