// Nexora's page: plain JavaScript over pusher-js (served from the npm install, no CDN).
// Event and channel names match src/events.rs and src/channels.rs; the server builds every
// channel name this page subscribes to, except the two it derives from the user's id.
'use strict';

const EV = {
  MESSAGE_NEW: 'message:new',
  MESSAGE_EDIT: 'message:edit',
  MESSAGE_DELETE: 'message:delete',
  TYPING_START: 'typing:start',
  TYPING_STOP: 'typing:stop',
  CLIENT_TYPING_START: 'client-typing:start',
  CLIENT_TYPING_STOP: 'client-typing:stop',
  NOTIFICATION_NEW: 'notification:new',
  NOTIFICATION_READ: 'notification:read',
  TRUST_CHANGED: 'user:trust-changed',
  MEMBER_JOIN: 'guild:member-join',
};
const TYPING_IDLE_MS = 2000;
const TYPING_EXPIRE_MS = 6000;
const TOAST_MS = 4500;
const MAX_TOASTS = 4;

const $ = (sel) => document.querySelector(sel);
const el = (tag, props = {}, ...children) => {
  const node = Object.assign(document.createElement(tag), props);
  for (const child of children) node.append(child);
  return node;
};

const app = {
  me: null,
  pusher: null,
  conversation: null, // { kind, id, label, channelName, channel, nextBefore, lastId }
  unread: 0,
  typers: new Map(), // user id → { name, timer }
  typingSent: false,
  typingTimer: null,
  wasConnected: false,
};
window.nexora = app;

async function api(method, path, body) {
  const options = { method, credentials: 'same-origin', headers: {} };
  if (body !== undefined) {
    options.headers['Content-Type'] = 'application/json';
    options.body = JSON.stringify(body);
  }
  const response = await fetch(path, options);
  const data = await response.json().catch(() => ({}));
  if (!response.ok) throw Object.assign(new Error(data.error || response.statusText), { status: response.status });
  return data;
}

// ---- login ----------------------------------------------------------------------------

async function boot() {
  try {
    start(await api('GET', '/api/me'));
  } catch (e) {
    if (e.status !== 401) console.error(e);
    $('#login').hidden = false;
  }
}

$('#login-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  $('#login-error').textContent = '';
  try {
    await api('POST', '/api/login', { name: $('#login-name').value, password: $('#login-password').value });
    $('#login').hidden = true;
    start(await api('GET', '/api/me'));
  } catch (e) {
    $('#login-error').textContent = e.message;
  }
});

$('#logout').addEventListener('click', async () => {
  await api('POST', '/api/logout');
  if (app.pusher) app.pusher.disconnect();
  location.reload();
});

// ---- connection -----------------------------------------------------------------------

async function start(me) {
  app.me = me.user;
  $('#app').hidden = false;
  $('#me-name').textContent = me.user.name;
  $('#trust').textContent = me.user.trust_score;
  setUnread(me.unread_count);

  if (typeof Pusher === 'undefined') {
    toast({ title: 'pusher-js missing', message: 'Run npm install in examples/nexora/web (see README).', icon: '⚠️' });
    return;
  }
  const config = await api('GET', '/api/config');
  app.pusher = new Pusher(config.key, {
    cluster: 'local',
    wsHost: config.wsHost,
    wsPort: config.wsPort,
    wssPort: config.wsPort,
    forceTLS: config.forceTLS,
    enabledTransports: ['ws', 'wss'],
    disableStats: true,
    channelAuthorization: { endpoint: config.channelAuthEndpoint, transport: 'ajax' },
    userAuthentication: { endpoint: config.userAuthEndpoint, transport: 'ajax' },
  });
  app.pusher.connection.bind('state_change', ({ current }) => {
    $('#conn-state').textContent = current;
    $('#conn-state').classList.toggle('connected', current === 'connected');
    if (current === 'connected') {
      if (app.wasConnected) catchUp();
      app.wasConnected = true;
    }
  });
  app.pusher.signin();

  const personal = app.pusher.subscribe(`private-user-${app.me.id}`);
  personal.bind(EV.NOTIFICATION_NEW, ({ notification, unread_count }) => {
    setUnread(unread_count);
    toast(notification);
    if (!$('#notif-panel').hidden) loadNotifications();
  });
  personal.bind(EV.NOTIFICATION_READ, ({ ids, all, unread_count }) => {
    setUnread(unread_count);
    for (const item of document.querySelectorAll('#notif-list li')) {
      if (all || ids.includes(Number(item.dataset.id))) item.classList.remove('unread');
    }
  });
  personal.bind(EV.TRUST_CHANGED, ({ new_score }) => { $('#trust').textContent = new_score; });

  const global = app.pusher.subscribe('platform-global');
  global.bind(EV.NOTIFICATION_NEW, ({ notification, unread_delta }) => {
    setUnread(app.unread + (unread_delta || 0));
    toast(notification);
  });

  renderConversationList(me);
  const first = me.guilds[0];
  if (first) openConversation('guilds', first.id, first.name);
}

/// Subscribes and resolves with 'ok', or with the HTTP status the auth endpoint refused with.
app.trySubscribe = (name) => new Promise((resolve) => {
  const channel = app.pusher.subscribe(name);
  if (channel.subscribed) resolve('ok');
  channel.bind('pusher:subscription_succeeded', () => resolve('ok'));
  channel.bind('pusher:subscription_error', (error) => resolve(error && error.status ? error.status : 'error'));
});

// After a reconnect: fetch what was missed instead of trusting the socket to have it.
async function catchUp() {
  const c = app.conversation;
  if (c) {
    const page = await api('GET', `/api/${c.kind}/${c.id}/messages?after=${c.lastId || 0}&limit=100`);
    page.messages.forEach(renderMessage);
  }
  setUnread((await api('GET', '/api/notifications/unread-count')).unread_count);
}

// ---- conversations --------------------------------------------------------------------

async function renderConversationList(me) {
  const item = (kind, id, label) => {
    const li = el('li', { textContent: label });
    li.dataset.kind = kind;
    li.dataset.id = id;
    li.addEventListener('click', () => openConversation(kind, id, label));
    return li;
  };
  $('#guild-list').replaceChildren(...me.guilds.map((g) => item('guilds', g.id, g.name)));
  $('#dispute-list').replaceChildren(...me.disputes.map((d) => item('disputes', d.id, `#${d.id} ${d.title}`)));
  const { users } = await api('GET', '/api/users');
  $('#dm-list').replaceChildren(...users.filter((u) => u.id !== app.me.id).map((u) => item('dms', u.id, u.name)));
}

async function openConversation(kind, id, label) {
  const previous = app.conversation;
  if (previous && previous.channel) app.pusher.unsubscribe(previous.channelName);
  for (const li of document.querySelectorAll('.conv-list li')) {
    li.classList.toggle('active', li.dataset.kind === kind && li.dataset.id === String(id));
  }
  clearTypers();
  $('#online').replaceChildren();
  $('#messages').replaceChildren();
  // No sending while the switch is in flight: a message typed now would go to the old one.
  $('#composer').hidden = true;

  const page = await api('GET', `/api/${kind}/${id}/messages`);
  const c = { kind, id, label, channelName: page.channel, nextBefore: page.next_before, lastId: 0 };
  app.conversation = c;
  // The title changes only once the conversation has, so it tells (people and tests) where
  // the composer sends.
  $('#conv-title').textContent = label;
  page.messages.forEach(renderMessage);
  $('#older').hidden = !c.nextBefore;
  $('#composer').hidden = false;

  const channel = app.pusher.subscribe(page.channel);
  c.channel = channel;
  channel.bind(EV.MESSAGE_NEW, renderMessage);
  channel.bind(EV.MESSAGE_EDIT, renderMessage);
  channel.bind(EV.MESSAGE_DELETE, renderMessage);
  channel.bind(EV.CLIENT_TYPING_START, (data) => showTyper(data.user_id, data.name));
  channel.bind(EV.CLIENT_TYPING_STOP, (data) => hideTyper(data.user_id));
  channel.bind(EV.TYPING_START, (data) => showTyper(data.user_id, data.name));
  channel.bind(EV.TYPING_STOP, (data) => hideTyper(data.user_id));
  if (page.channel.startsWith('presence-')) {
    channel.bind('pusher:subscription_succeeded', (members) => renderOnline(members));
    channel.bind('pusher:member_added', () => renderOnline(channel.members));
    channel.bind('pusher:member_removed', (member) => { hideTyper(member.id); renderOnline(channel.members); });
  }
  channel.bind('pusher:subscription_error', (error) => {
    toast({ title: 'Cannot join this channel', message: `status ${error.status || '?'}`, icon: '⛔' });
  });
}

$('#older').addEventListener('click', async () => {
  const c = app.conversation;
  const page = await api('GET', `/api/${c.kind}/${c.id}/messages?before=${c.nextBefore}`);
  const list = $('#messages');
  const first = list.firstChild;
  for (const m of page.messages) list.insertBefore(messageNode(m), first);
  c.nextBefore = page.next_before;
  $('#older').hidden = !c.nextBefore;
});

function messageNode(m) {
  const mine = app.me && m.sender.id === app.me.id;
  const li = el('li', { className: `message${mine ? ' mine' : ''}${m.deleted ? ' deleted' : ''}` });
  li.dataset.id = m.id;
  li.append(
    el('span', { className: 'author', textContent: m.sender.name }),
    el('span', { className: 'content', textContent: m.deleted ? 'message deleted' : m.content }),
    el('span', { className: 'meta', textContent: new Date(m.created_at).toLocaleTimeString() + (m.edited_at && !m.deleted ? ' (edited)' : '') }),
  );
  if (mine && !m.deleted) {
    const edit = el('button', { type: 'button', textContent: 'edit' });
    edit.addEventListener('click', async () => {
      const content = prompt('Edit message', m.content);
      if (content) renderMessage((await api('PATCH', `/api/messages/${m.id}`, { content, socket_id: socketId() })).message);
    });
    const remove = el('button', { type: 'button', textContent: 'delete' });
    remove.addEventListener('click', async () => {
      renderMessage((await api('DELETE', `/api/messages/${m.id}?socket_id=${encodeURIComponent(socketId() || '')}`)).message);
    });
    li.append(el('span', { className: 'actions' }, edit, remove));
  }
  return li;
}

/// Inserts or replaces a message of the open conversation (events and API answers alike).
function renderMessage(m) {
  const c = app.conversation;
  if (!c || m.channel !== c.channelName) return;
  const node = messageNode(m);
  const existing = document.querySelector(`#messages li[data-id="${m.id}"]`);
  if (existing) existing.replaceWith(node);
  else $('#messages').append(node);
  c.lastId = Math.max(c.lastId, m.id);
  hideTyper(String(m.sender.id));
  node.scrollIntoView({ block: 'nearest' });
}

function renderOnline(members) {
  const names = [];
  members.each((member) => names.push(member.info && member.info.name ? member.info.name : member.id));
  names.sort();
  $('#online').replaceChildren(...names.map((name) => el('li', { textContent: name })));
}

// ---- sending and typing ---------------------------------------------------------------

const socketId = () => (app.pusher ? app.pusher.connection.socket_id : undefined);

$('#composer').addEventListener('submit', async (event) => {
  event.preventDefault();
  const input = $('#message-input');
  const content = input.value.trim();
  const c = app.conversation;
  if (!content || !c) return;
  input.value = '';
  stopTyping();
  try {
    const { message } = await api('POST', `/api/${c.kind}/${c.id}/messages`, { content, socket_id: socketId() });
    renderMessage(message);
  } catch (e) {
    input.value = content;
    toast({ title: 'Not sent', message: e.message, icon: '⚠️' });
  }
});

$('#message-input').addEventListener('input', () => {
  const c = app.conversation;
  if (!c || !c.channel || !c.channel.subscribed) return;
  if (!app.typingSent) {
    c.channel.trigger(EV.CLIENT_TYPING_START, { user_id: String(app.me.id), name: app.me.name });
    app.typingSent = true;
  }
  clearTimeout(app.typingTimer);
  app.typingTimer = setTimeout(stopTyping, TYPING_IDLE_MS);
});

function stopTyping() {
  clearTimeout(app.typingTimer);
  const c = app.conversation;
  if (app.typingSent && c && c.channel && c.channel.subscribed) {
    c.channel.trigger(EV.CLIENT_TYPING_STOP, { user_id: String(app.me.id), name: app.me.name });
  }
  app.typingSent = false;
}

function showTyper(userId, name) {
  if (!userId || String(userId) === String(app.me.id)) return;
  const existing = app.typers.get(String(userId));
  if (existing) clearTimeout(existing.timer);
  const timer = setTimeout(() => hideTyper(userId), TYPING_EXPIRE_MS);
  app.typers.set(String(userId), { name, timer });
  renderTypers();
}

function hideTyper(userId) {
  const existing = app.typers.get(String(userId));
  if (!existing) return;
  clearTimeout(existing.timer);
  app.typers.delete(String(userId));
  renderTypers();
}

function clearTypers() {
  for (const { timer } of app.typers.values()) clearTimeout(timer);
  app.typers.clear();
  renderTypers();
}

function renderTypers() {
  const names = [...app.typers.values()].map((t) => t.name);
  $('#typing').textContent = names.length === 0 ? '' : `${names.join(', ')} ${names.length === 1 ? 'is' : 'are'} typing…`;
}

// ---- notifications --------------------------------------------------------------------

function formatCount(n) {
  return n > 9 ? '9+' : String(n);
}

function setUnread(n) {
  app.unread = Math.max(0, n);
  const badge = $('#bell-count');
  badge.textContent = formatCount(app.unread);
  badge.hidden = app.unread === 0;
}

$('#bell').addEventListener('click', () => {
  const panel = $('#notif-panel');
  panel.hidden = !panel.hidden;
  if (!panel.hidden) loadNotifications();
});

async function loadNotifications() {
  const { notifications, unread_count } = await api('GET', '/api/notifications?limit=30');
  setUnread(unread_count);
  $('#notif-list').replaceChildren(...notifications.map((n) => {
    const li = el('li', { className: n.read ? '' : 'unread' },
      el('div', { textContent: `${n.icon} ${n.title}` }),
      el('div', { textContent: n.message }),
      el('div', { className: 'when', textContent: new Date(n.created_at).toLocaleString() }));
    li.dataset.id = n.id;
    li.addEventListener('click', async () => {
      if (!li.classList.contains('unread')) return;
      const { unread_count } = await api('POST', `/api/notifications/${n.id}/read`, { socket_id: socketId() });
      li.classList.remove('unread');
      setUnread(unread_count);
    });
    return li;
  }));
}

$('#mark-all').addEventListener('click', async () => {
  await api('POST', '/api/notifications/read-all', { socket_id: socketId() });
  for (const li of document.querySelectorAll('#notif-list li')) li.classList.remove('unread');
  setUnread(0);
});

function toast({ title, message, icon }) {
  const node = el('div', { className: 'toast' },
    el('div', { className: 'title', textContent: `${icon || ''} ${title}`.trim() }),
    el('div', { className: 'body', textContent: message || '' }));
  $('#toasts').append(node);
  while ($('#toasts').children.length > MAX_TOASTS) $('#toasts').firstChild.remove();
  setTimeout(() => {
    node.classList.add('leaving');
    node.addEventListener('animationend', () => node.remove(), { once: true });
    setTimeout(() => node.remove(), 600);
  }, TOAST_MS);
}

boot();
