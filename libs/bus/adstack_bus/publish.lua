-- Publish a batch of one contract's events atomically: check the writer's fencing token,
-- dedup, assign offsets, append to the capped history, count stats, publish the client
-- frames. One contract per call, so every per-contract key shares the contract's hash tag.
--
-- KEYS[1] meta hash  KEYS[2] history stream  KEYS[3] stats hash  KEYS[4] reverted-id set
-- KEYS[5] fencing token  KEYS[5+i] dedup marker of event i
-- ARGV[1] channel  ARGV[2] epoch to use if the history is new  ARGV[3] history max length
-- ARGV[4] history TTL seconds  ARGV[5] dedup TTL seconds  ARGV[6] now (ms)
-- ARGV[7] publish command (PUBLISH or SPUBLISH)  ARGV[8] caller's fencing token, '-' = none
-- then for event i: ARGV[8+3i-2] id, ARGV[8+3i-1] type, ARGV[8+3i] event JSON without its
-- closing brace.
-- Returns, per event, its new offset, or 0 if it was a duplicate; the error NOTLEADER if
-- the caller's fencing token is not the current one (nothing is written then).
local meta, hist, stats, rev = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local refused = check_fence(KEYS[5], ARGV[8])  -- fence.lua
if refused then
  return refused
end
local epoch = redis.call('HGET', meta, 'epoch')
if not epoch then
  epoch = ARGV[2]
  redis.call('DEL', hist)
  redis.call('HSET', meta, 'epoch', epoch, 'offset', 0)
end
local n = #KEYS - 5
local out = {}
local published = 0
for i = 1, n do
  local seen = KEYS[5 + i]
  if redis.call('EXISTS', seen) == 1 then
    out[i] = 0
  else
    local base = 8 + 3 * (i - 1)
    local id, etype = ARGV[base + 1], ARGV[base + 2]
    local off = redis.call('HINCRBY', meta, 'offset', 1)
    local data = ARGV[base + 3] .. ',"offset":' .. off .. ',"epoch":"' .. epoch .. '"}'
    redis.call('XADD', hist, 'MAXLEN', '=', ARGV[3], off .. '-0', 'k', 'e', 't', etype, 'd', data)
    redis.call('SET', seen, off .. ':' .. etype, 'EX', ARGV[5])
    redis.call('SREM', rev, id)
    redis.call('HINCRBY', stats, 'total', 1)
    redis.call('HINCRBY', stats, 't:' .. etype, 1)
    redis.call(ARGV[7], ARGV[1], '{"event":"event","data":' .. data .. '}')
    out[i] = off
    published = published + 1
  end
end
if published > 0 then
  redis.call('HSET', stats, 'last', ARGV[6])
end
redis.call('EXPIRE', meta, ARGV[4])
redis.call('EXPIRE', hist, ARGV[4])
return out
