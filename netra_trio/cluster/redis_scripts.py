"""The coordinator's server-side scripts (Lua, run by Redis on one key of one
user each: atomic, and single-slot in a Redis Cluster). Every time is Redis's
own clock (``TIME``), in milliseconds; a slot's value is ``deadline|tag``."""

from __future__ import annotations

NOW_MS = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
"""

# KEYS[1]: a user's slots. ARGV: limit, lease, tag ('' for none), ttl in ms.
# Returns {0, the tags of the other live leases} (taken), {1} (the tag is
# held), {2} (the limit is reached).
TAKE_SLOT = (
    NOW_MS
    + """
local held, busy, tags = 0, false, {0}
local slots = redis.call('HGETALL', KEYS[1])
for i = 1, #slots, 2 do
  local deadline, tag = string.match(slots[i + 1], '^(%d+)|(.*)$')
  if deadline and tonumber(deadline) > now then
    held = held + 1
    if ARGV[3] ~= '' and tag == ARGV[3] then busy = true end
    if tag ~= '' then table.insert(tags, tag) end
  else
    redis.call('HDEL', KEYS[1], slots[i])
  end
end
if busy then return {1} end
if held >= tonumber(ARGV[1]) then return {2} end
local deadline = string.format('%.0f', now + tonumber(ARGV[4]))
redis.call('HSET', KEYS[1], ARGV[2], deadline .. '|' .. ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return tags
"""
)

# KEYS[1]: a user's slots. ARGV: lease, tag, '1' when no other lease may hold
# the tag. Returns 0 (tagged), 1 (another live lease holds the tag), 2 (the
# lease has lapsed: nothing to tag).
TAG_SLOT = (
    NOW_MS
    + """
local mine = nil
local slots = redis.call('HGETALL', KEYS[1])
for i = 1, #slots, 2 do
  local deadline, tag = string.match(slots[i + 1], '^(%d+)|(.*)$')
  if deadline and tonumber(deadline) > now then
    if slots[i] == ARGV[1] then
      mine = deadline
    elseif ARGV[3] == '1' and tag == ARGV[2] then
      return 1
    end
  end
end
if not mine then return 2 end
redis.call('HSET', KEYS[1], ARGV[1], mine .. '|' .. ARGV[2])
return 0
"""
)

# KEYS[1]: a user's slots. Returns the leases whose deadline has not passed.
LIVE_SLOTS = (
    NOW_MS
    + """
local live = {}
local slots = redis.call('HGETALL', KEYS[1])
for i = 1, #slots, 2 do
  local deadline = string.match(slots[i + 1], '^(%d+)|')
  if deadline and tonumber(deadline) > now then table.insert(live, slots[i]) end
end
return live
"""
)

# KEYS[1]: a user's slots. ARGV: ttl in ms, then each lease to renew and its
# tag. A lease is set again also when it lapsed meanwhile (Redis was away
# longer than the ttl): its connection or run is still there.
RENEW_SLOTS = (
    NOW_MS
    + """
local deadline = string.format('%.0f', now + tonumber(ARGV[1]))
for i = 2, #ARGV, 2 do
  redis.call('HSET', KEYS[1], ARGV[i], deadline .. '|' .. ARGV[i + 1])
end
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return 0
"""
)

# KEYS[1]: a user's message bucket. ARGV: rate per second, burst, cost.
# Returns '0' when allowed, otherwise the seconds to wait (as a string).
TAKE_MESSAGES = (
    NOW_MS
    + """
local rate, burst, cost = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens, at = tonumber(state[1]) or burst, tonumber(state[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - at) * rate / 1000)
local wait = '0'
if tokens >= cost then tokens = tokens - cost else wait = tostring((cost - tokens) / rate) end
local stored = string.format('%.6f', tokens)
redis.call('HSET', KEYS[1], 'tokens', stored, 'at', string.format('%.0f', now))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
return wait
"""
)
