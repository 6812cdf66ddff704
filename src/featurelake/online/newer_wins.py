"""The atomic newer-wins write, as a Lua script run by Redis.

For each key, the stored value is replaced only when the new header (event_timestamp,
created_timestamp) is greater than or equal to the stored one; equal rewrites the same
row (idempotent retries) and refreshes the TTL. Redis runs a script atomically, so
concurrent runs and retries can never put an older value over a newer one, whatever the
order rows arrive in.
"""

from __future__ import annotations

from featurelake.online.codec import HEADER_CHARS

NEWER_WINS = f"""
local ttl = tonumber(ARGV[1])
local written = 0
for i, key in ipairs(KEYS) do
  local new = ARGV[i + 1]
  local current = redis.call('GETRANGE', key, 0, {HEADER_CHARS - 1})
  if current == '' or current <= string.sub(new, 1, {HEADER_CHARS}) then
    if ttl > 0 then
      redis.call('SET', key, new, 'PX', ttl)
    else
      redis.call('SET', key, new)
    end
    written = written + 1
  end
end
return written
"""
