//! The Lua scripts that keep the cluster's shared counts in Redis. Each runs atomically, so
//! "first subscriber anywhere" and "last socket of a user anywhere" are decided exactly once.
//!
//! Keys (P = the cluster prefix, A = app id, US = the unit separator `\x1f`):
//! - `P:nodes` — sorted set of live nodes scored by their last heartbeat (ms).
//! - `P:node:N` — hash of node N's own contributions, so they can be undone when it dies:
//!   `c US A US channel` → subscribers, `p US A US channel US user` → presence sockets,
//!   `u US A US user` → signed-in sockets, `n US A` → connections.
//! - `P:app:A:channels` — hash channel → subscribers cluster-wide.
//! - `P:app:A:presence:CH` — hash user → sockets in the channel cluster-wide.
//! - `P:app:A:members:CH` — hash user → `{"user_id":…,"user_info":…}`.
//! - `P:app:A:users` — hash user → signed-in sockets cluster-wide.
//! - `P:app:A:connections` — connection count.
//! - `P:app:A:budget:events`, `P:app:A:budget:reads` — the HTTP API's shared budgets
//!   (`max_backend_events_per_second`, `max_read_requests_per_second`): hash `tokens`, `at`
//!   (ms, Redis's clock); each expires after two idle seconds, when it would be full anyway.
//! - `P:app:A:held:CH[US user]` — a `channel_vacated`/`member_removed` webhook waiting out the
//!   leave delay; a join that deletes it cancels the pair, the holding node deletes it when the
//!   delay ends to release the webhook. It expires 30 s after the delay, so a node that died
//!   while holding leaves nothing behind.
//!
//! Leaves only undo what the node's own hash records: if the node was declared dead and its
//! state cleaned, a late leave changes nothing (the resync after recovery rebuilds it).

use redis::Script;
use std::sync::LazyLock;

const COMMON: &str = r#"
local sep = '\31'
local p, node, app = ARGV[1], ARGV[2], ARGV[3]
local state = p .. ':node:' .. node
local function akey(a, suffix) return p .. ':app:' .. a .. ':' .. suffix end
local function dec(key, field, by)
  local v = redis.call('HINCRBY', key, field, -by)
  if v <= 0 then redis.call('HDEL', key, field) end
  return v
end
"#;

fn script(body: &str) -> Script {
    Script::new(&format!("{COMMON}{body}"))
}

/// ARGV: prefix, node, app, channel, user ('' if not presence), member json, max members.
/// Returns {subscribers, occupied (0 no, 1 yes, 2 yes but cancelled a held vacate),
/// member (0 existing, 1 new, 2 new but cancelled a held removal, -1 channel full), roster}.
pub static JOIN: LazyLock<Script> = LazyLock::new(|| {
    script(
        r#"
local ch, user = ARGV[4], ARGV[5]
local member, roster = 0, {}
if user ~= '' then
  local pres, mem = akey(app, 'presence:' .. ch), akey(app, 'members:' .. ch)
  local cur = tonumber(redis.call('HGET', pres, user) or '0')
  if cur <= 0 and redis.call('HLEN', mem) >= tonumber(ARGV[7]) then return {0, 0, -1, {}} end
  redis.call('HINCRBY', pres, user, 1)
  redis.call('HINCRBY', state, 'p' .. sep .. app .. sep .. ch .. sep .. user, 1)
  redis.call('HSET', mem, user, ARGV[6])
  if cur <= 0 then
    member = 1
    if redis.call('DEL', akey(app, 'held:' .. ch .. sep .. user)) == 1 then member = 2 end
  end
  roster = redis.call('HVALS', mem)
end
local n = redis.call('HINCRBY', akey(app, 'channels'), ch, 1)
redis.call('HINCRBY', state, 'c' .. sep .. app .. sep .. ch, 1)
local occupied = 0
if n == 1 then
  occupied = 1
  if redis.call('DEL', akey(app, 'held:' .. ch)) == 1 then occupied = 2 end
end
return {n, occupied, member, roster}
"#,
    )
});

/// ARGV: prefix, node, app, channel, user ('' if not presence), hold ms (0 = no webhook hold).
/// Returns {subscribers left, vacated 0/1, member removed 0/1, member json}.
pub static LEAVE: LazyLock<Script> = LazyLock::new(|| {
    script(
        r#"
local ch, user, hold = ARGV[4], ARGV[5], tonumber(ARGV[6])
local fc = 'c' .. sep .. app .. sep .. ch
if tonumber(redis.call('HGET', state, fc) or '0') <= 0 then return {-1, 0, 0, ''} end
dec(state, fc, 1)
local chans = akey(app, 'channels')
local n = dec(chans, ch, 1)
local vacated = 0
if n <= 0 then
  n, vacated = 0, 1
  if hold > 0 then redis.call('SET', akey(app, 'held:' .. ch), node, 'PX', hold + 30000) end
end
local removed, member = 0, ''
if user ~= '' then
  local fp = 'p' .. sep .. app .. sep .. ch .. sep .. user
  if tonumber(redis.call('HGET', state, fp) or '0') > 0 then
    dec(state, fp, 1)
    local pres, mem = akey(app, 'presence:' .. ch), akey(app, 'members:' .. ch)
    if dec(pres, user, 1) <= 0 then
      member = redis.call('HGET', mem, user) or ''
      redis.call('HDEL', mem, user)
      removed = 1
      if hold > 0 then redis.call('SET', akey(app, 'held:' .. ch .. sep .. user), node, 'PX', hold + 30000) end
    end
  end
end
return {n, vacated, removed, member}
"#,
    )
});

/// ARGV: prefix, node, app, user, delta (+1 sign-in, -1 sign-out).
/// Returns the user's signed-in sockets cluster-wide afterwards, or -1 if nothing changed.
pub static USER: LazyLock<Script> = LazyLock::new(|| {
    script(
        r#"
local user, delta = ARGV[4], tonumber(ARGV[5])
local fu = 'u' .. sep .. app .. sep .. user
local users = akey(app, 'users')
if delta > 0 then
  redis.call('HINCRBY', state, fu, 1)
  return redis.call('HINCRBY', users, user, 1)
end
if tonumber(redis.call('HGET', state, fu) or '0') <= 0 then return -1 end
dec(state, fu, 1)
local c = dec(users, user, 1)
if c < 0 then c = 0 end
return c
"#,
    )
});

/// ARGV: prefix, node, app, per second, amount wanted, budget name (`events`, `reads`).
/// A token bucket holding one second's worth, on Redis's clock so every node refills it
/// alike. Returns 1 and takes the events, or 0 and takes nothing.
pub static BUDGET: LazyLock<Script> = LazyLock::new(|| {
    script(
        r#"
local rate, want = tonumber(ARGV[4]), tonumber(ARGV[5])
local key = akey(app, 'budget:' .. ARGV[6])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local b = redis.call('HMGET', key, 'tokens', 'at')
local tokens, at = tonumber(b[1]), tonumber(b[2])
if not tokens or not at then tokens, at = rate, now end
if now > at then tokens = math.min(rate, tokens + (now - at) * rate / 1000); at = now end
local granted = 0
if tokens >= want then tokens = tokens - want; granted = 1 end
redis.call('HSET', key, 'tokens', tostring(tokens), 'at', at)
redis.call('PEXPIRE', key, 2000)
return granted
"#,
    )
});

/// ARGV: prefix, node, app, delta (+1/-1), max connections (0 = unlimited).
/// Returns the connection count afterwards, or -1 when over the limit (nothing counted).
pub static CONNECTION: LazyLock<Script> = LazyLock::new(|| {
    script(
        r#"
local delta, max = tonumber(ARGV[4]), tonumber(ARGV[5])
local fn = 'n' .. sep .. app
local conns = akey(app, 'connections')
if delta > 0 then
  local c = redis.call('INCR', conns)
  if max > 0 and c > max then redis.call('DECR', conns); return -1 end
  redis.call('HINCRBY', state, fn, 1)
  return c
end
if tonumber(redis.call('HGET', state, fn) or '0') <= 0 then return -1 end
dec(state, fn, 1)
local c = redis.call('DECR', conns)
if c < 0 then redis.call('SET', conns, 0); c = 0 end
return c
"#,
    )
});

/// Undoes everything node ARGV[2] contributed and deletes its hash. ARGV: prefix, node, ''.
/// Returns a flat list of records: {kind, app, channel, user, member json} with kind one of
/// `vacated`, `removed`, `offline`.
pub static CLEANUP: LazyLock<Script> = LazyLock::new(|| {
    script(
        r#"
local out = {}
local fields = redis.call('HGETALL', state)
for i = 1, #fields, 2 do
  local f, n = fields[i], tonumber(fields[i + 1])
  local parts, start = {}, 1
  while true do
    local s, e = string.find(f, sep, start, true)
    if not s then table.insert(parts, string.sub(f, start)); break end
    table.insert(parts, string.sub(f, start, s - 1))
    start = e + 1
  end
  local kind, a = parts[1], parts[2]
  if kind == 'c' then
    if dec(akey(a, 'channels'), parts[3], n) <= 0 then
      for _, v in ipairs({'vacated', a, parts[3], '', ''}) do table.insert(out, v) end
    end
  elseif kind == 'p' then
    local pres, mem = akey(a, 'presence:' .. parts[3]), akey(a, 'members:' .. parts[3])
    if dec(pres, parts[4], n) <= 0 then
      local m = redis.call('HGET', mem, parts[4]) or ''
      redis.call('HDEL', mem, parts[4])
      for _, v in ipairs({'removed', a, parts[3], parts[4], m}) do table.insert(out, v) end
    end
  elseif kind == 'u' then
    if dec(akey(a, 'users'), parts[3], n) <= 0 then
      for _, v in ipairs({'offline', a, '', parts[3], ''}) do table.insert(out, v) end
    end
  elseif kind == 'n' then
    local c = redis.call('DECRBY', akey(a, 'connections'), n)
    if c < 0 then redis.call('SET', akey(a, 'connections'), 0) end
  end
end
redis.call('DEL', state)
return out
"#,
    )
});

/// Re-adds a node's current state after a resync. ARGV: prefix, node, '', then records of six
/// values: kind (`c`, `p`, `u`, `n`), app, channel, user, count, member json.
/// Returns records {kind, app, channel, user, ''} with kind `occupied`, `added` or `online`
/// for every count that went up from zero.
pub static RESTORE: LazyLock<Script> = LazyLock::new(|| {
    script(
        r#"
local out = {}
for i = 4, #ARGV, 6 do
  local kind, a, ch, user, n, m = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], tonumber(ARGV[i + 4]), ARGV[i + 5]
  if kind == 'c' then
    redis.call('HINCRBY', state, 'c' .. sep .. a .. sep .. ch, n)
    if redis.call('HINCRBY', akey(a, 'channels'), ch, n) == n then
      for _, v in ipairs({'occupied', a, ch, '', ''}) do table.insert(out, v) end
    end
  elseif kind == 'p' then
    redis.call('HINCRBY', state, 'p' .. sep .. a .. sep .. ch .. sep .. user, n)
    redis.call('HSET', akey(a, 'members:' .. ch), user, m)
    if redis.call('HINCRBY', akey(a, 'presence:' .. ch), user, n) == n then
      for _, v in ipairs({'added', a, ch, user, ''}) do table.insert(out, v) end
    end
  elseif kind == 'u' then
    redis.call('HINCRBY', state, 'u' .. sep .. a .. sep .. user, n)
    if redis.call('HINCRBY', akey(a, 'users'), user, n) == n then
      for _, v in ipairs({'online', a, '', user, ''}) do table.insert(out, v) end
    end
  elseif kind == 'n' then
    redis.call('HINCRBY', state, 'n' .. sep .. a, n)
    redis.call('INCRBY', akey(a, 'connections'), n)
  end
end
return out
"#,
    )
});
