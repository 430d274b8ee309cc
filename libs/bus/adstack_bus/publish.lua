-- Publish a batch of one contract's events atomically: check the writer's fencing token,
-- dedup, assign offsets, append to the capped history, count stats, publish the client
-- frames. One contract per call, so every per-contract key shares the contract's hash tag.
--
-- KEYS[1] meta hash  KEYS[2] history stream  KEYS[3] stats hash  KEYS[4] reverted-id set
-- KEYS[5] fencing token
-- ARGV[1] channel  ARGV[2] epoch to use if the history is new  ARGV[3] history max length
-- ARGV[4] history TTL seconds  ARGV[5] dedup TTL seconds  ARGV[6] now (ms)
-- ARGV[7] publish command (PUBLISH or SPUBLISH)  ARGV[8] caller's fencing token, '-' = none
-- ARGV[9] dedup marker prefix: event i's marker is ARGV[9] .. its id (keys.seen; the
-- markers carry the contract's hash tag, so they are on this shard)
-- ARGV[10] the events, a MessagePack array of 3n strings: for event i, its id, its type and
-- its JSON without the closing brace (one argument instead of 4n keeps the call cheap to
-- encode and to read).
-- Returns, per event, its new offset, or 0 if it was a duplicate; the error NOTLEADER if
-- the caller's fencing token is not the current one (nothing is written then).
--
-- The stored object and the frame are byte for byte what adstack_protocol.wire.event_data
-- and event_frame build (tests/integration/test_golden_frames.py pins them).
--
-- Per event it costs three commands (SET, XADD, PUBLISH); the dedup lookups, offset,
-- stats and trimming are done once per batch.
local meta, hist, stats, rev = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local refused = check_fence(KEYS[5], ARGV[8])  -- fence.lua
if refused then
  return refused
end
local head = redis.call('HMGET', meta, 'epoch', 'offset')
local epoch, off = head[1], tonumber(head[2])
if not epoch then
  epoch = ARGV[2]
  off = 0
  redis.call('DEL', hist)
  redis.call('HSET', meta, 'epoch', epoch, 'offset', 0)
end
local events = cmsgpack.unpack(ARGV[10])
local n = #events / 3
local markers = {}
for i = 1, n do
  markers[i] = ARGV[9] .. events[3 * i - 2]
end
-- Dedup markers, read in chunks (unpack() has a stack limit).
local seen = {}
local chunk = 500
for first = 1, n, chunk do
  local last = math.min(n, first + chunk - 1)
  local got = redis.call('MGET', unpack(markers, first, last))
  for j = 1, last - first + 1 do
    seen[first + j - 1] = got[j]
  end
end
local any_reverted = redis.call('EXISTS', rev) == 1
local fresh = {}  -- markers written by this call (the same id twice in one batch)
local out = {}
local counts = {}
local published = 0
local suffix = ',"epoch":"' .. epoch .. '"}'
for i = 1, n do
  local key = markers[i]
  if seen[i] or fresh[key] then
    out[i] = 0
  else
    local base = 3 * (i - 1)
    local id, etype = events[base + 1], events[base + 2]
    off = off + 1
    local data = events[base + 3] .. ',"offset":' .. off .. suffix
    redis.call('XADD', hist, off .. '-0', 'k', 'e', 't', etype, 'd', data)
    redis.call('SET', key, off .. ':' .. etype, 'EX', ARGV[5])
    if any_reverted then
      redis.call('SREM', rev, id)
    end
    redis.call(ARGV[7], ARGV[1], '{"event":"event","data":' .. data .. '}')
    fresh[key] = true
    counts[etype] = (counts[etype] or 0) + 1
    out[i] = off
    published = published + 1
  end
end
if published > 0 then
  redis.call('HSET', meta, 'offset', off)
  redis.call('XTRIM', hist, 'MAXLEN', '=', ARGV[3])
  redis.call('HINCRBY', stats, 'total', published)
  for etype, count in pairs(counts) do
    redis.call('HINCRBY', stats, 't:' .. etype, count)
  end
  redis.call('HSET', stats, 'last', ARGV[6])
end
redis.call('EXPIRE', meta, ARGV[4])
redis.call('EXPIRE', hist, ARGV[4])
return out
