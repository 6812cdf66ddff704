"""The atomic newer-wins write, as Lua scripts run by Redis.

For each key, the stored value is replaced only when the new header (event_timestamp,
created_timestamp) is greater than or equal to the stored one; equal rewrites the same
row (idempotent retries) and refreshes the TTL. Redis runs a script atomically, so
concurrent runs and retries can never put an older value over a newer one, whatever the
order rows arrive in.

Two scripts with the same outcome, differing in what they try first. NEWER_WINS reads
the stored header, then writes: two Redis commands per key. NEWER_WINS_NEW_KEYS_FIRST
tries `SET ... NX`, and reads and compares only when the key exists: one command per new
key (a first materialization, a rebuild after `--reset`, a new view version), three per
existing one. Redis spends ~20% less per new key with it (1M keys: 3.3 s of Redis CPU
instead of 4.1 s), ~20% more per existing one; the writer picks per round trip from what
the previous one found. Both return {written, keys that already existed}.
"""

from __future__ import annotations

from featurelake.online.codec import HEADER_CHARS

_SET = """
local function set(key, value, ttl, mode)
  if ttl > 0 then
    if mode then return redis.call('SET', key, value, 'PX', ttl, mode) end
    return redis.call('SET', key, value, 'PX', ttl)
  end
  if mode then return redis.call('SET', key, value, mode) end
  return redis.call('SET', key, value)
end
"""

NEWER_WINS = (
    _SET
    + f"""
local ttl = tonumber(ARGV[1])
local written, existed = 0, 0
for i, key in ipairs(KEYS) do
  local new = ARGV[i + 1]
  local current = redis.call('GETRANGE', key, 0, {HEADER_CHARS - 1})
  if current ~= '' then existed = existed + 1 end
  if current == '' or current <= string.sub(new, 1, {HEADER_CHARS}) then
    set(key, new, ttl, nil)
    written = written + 1
  end
end
return {{written, existed}}
"""
)

NEWER_WINS_NEW_KEYS_FIRST = (
    _SET
    + f"""
local ttl = tonumber(ARGV[1])
local written, existed = 0, 0
for i, key in ipairs(KEYS) do
  local new = ARGV[i + 1]
  if set(key, new, ttl, 'NX') then
    written = written + 1
  else
    existed = existed + 1
    local current = redis.call('GETRANGE', key, 0, {HEADER_CHARS - 1})
    if current == '' or current <= string.sub(new, 1, {HEADER_CHARS}) then
      set(key, new, ttl, nil)
      written = written + 1
    end
  end
end
return {{written, existed}}
"""
)
