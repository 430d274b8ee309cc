-- Publish a batch of one contract's events atomically: dedup, assign offsets, append to the
-- capped history, count stats, publish the client frames. One contract per call, so every
-- key shares the contract's hash tag (Redis Cluster safe).
--
-- KEYS[1] meta hash   KEYS[2] history stream   KEYS[3] stats hash   KEYS[3+i] dedup marker of event i
-- ARGV[1] channel  ARGV[2] epoch to use if the history is new  ARGV[3] history max length
-- ARGV[4] history TTL seconds  ARGV[5] dedup TTL seconds  ARGV[6] now (ms)
-- ARGV[7] publish command (PUBLISH or SPUBLISH)
-- then for event i: ARGV[7+2i-1] type, ARGV[7+2i] event JSON without its closing brace
-- Returns, per event, its new offset, or 0 if it was a duplicate.
local meta, hist, stats = KEYS[1], KEYS[2], KEYS[3]
local epoch = redis.call('HGET', meta, 'epoch')
if not epoch then
  epoch = ARGV[2]
  redis.call('DEL', hist)
  redis.call('HSET', meta, 'epoch', epoch, 'offset', 0)
end
local n = #KEYS - 3
local out = {}
local published = 0
for i = 1, n do
  local seen = KEYS[3 + i]
  if redis.call('EXISTS', seen) == 1 then
    out[i] = 0
  else
    local etype = ARGV[7 + 2 * i - 1]
    local off = redis.call('HINCRBY', meta, 'offset', 1)
    local data = ARGV[7 + 2 * i] .. ',"offset":' .. off .. ',"epoch":"' .. epoch .. '"}'
    redis.call('XADD', hist, 'MAXLEN', '=', ARGV[3], off .. '-0', 'k', 'e', 't', etype, 'd', data)
    redis.call('SET', seen, off, 'EX', ARGV[5])
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
