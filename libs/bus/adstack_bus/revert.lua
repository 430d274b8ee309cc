-- Withdraw published events of one contract atomically (a reorg orphaned their block):
-- check the writer's fencing token; for each id that is currently published (its dedup
-- marker exists), delete the marker (so a re-applied block publishes it again), add the id
-- to the reverted set (history readers hide it), decrement the stats; then, if any id was
-- withdrawn, assign the next offset, append a `k=r` history entry and publish one
-- `event_reverted` frame naming the ids. Ids not currently published are skipped, so a
-- retried revert is a no-op.
--
-- KEYS[1] meta hash  KEYS[2] history stream  KEYS[3] stats hash  KEYS[4] reverted-id set
-- KEYS[5] fencing token  KEYS[5+i] dedup marker of id i
-- ARGV[1] channel  ARGV[2] epoch to use if the history is new  ARGV[3] history max length
-- ARGV[4] history TTL seconds  ARGV[5] reverted-set TTL seconds  ARGV[6] now (ms)
-- ARGV[7] publish command  ARGV[8] caller's fencing token, '-' = none
-- ARGV[9] the notice JSON without ids, offset, epoch and closing brace
-- ARGV[9+i] id i (hex, safe to quote as is)
-- The stored object and the frame are byte for byte what adstack_protocol.wire.revert_data
-- and revert_frame build (tests/integration/test_golden_frames.py pins them).
-- Returns {offset, withdrawn count}; {0, 0} when nothing was published; NOTLEADER error.
local meta, hist, stats, rev = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local refused = check_fence(KEYS[5], ARGV[8])  -- fence.lua
if refused then
  return refused
end
local n = #KEYS - 5
local ids = {}
for i = 1, n do
  local seen = KEYS[5 + i]
  local marker = redis.call('GET', seen)
  if marker then
    local id = ARGV[9 + i]
    local sep = string.find(marker, ':', 1, true)
    local etype = sep and string.sub(marker, sep + 1) or 'print'
    redis.call('DEL', seen)
    redis.call('SADD', rev, id)
    redis.call('HINCRBY', stats, 'total', -1)
    redis.call('HINCRBY', stats, 't:' .. etype, -1)
    ids[#ids + 1] = '"' .. id .. '"'
  end
end
if #ids == 0 then
  return {0, 0}
end
local epoch = redis.call('HGET', meta, 'epoch')
if not epoch then
  epoch = ARGV[2]
  redis.call('DEL', hist)
  redis.call('HSET', meta, 'epoch', epoch, 'offset', 0)
end
local off = redis.call('HINCRBY', meta, 'offset', 1)
local data = ARGV[9] .. ',"ids":[' .. table.concat(ids, ',') .. '],"offset":' .. off
  .. ',"epoch":"' .. epoch .. '"}'
redis.call('XADD', hist, 'MAXLEN', '=', ARGV[3], off .. '-0', 'k', 'r', 't', '', 'd', data)
redis.call('HSET', stats, 'last', ARGV[6])
redis.call(ARGV[7], ARGV[1], '{"event":"event_reverted","data":' .. data .. '}')
redis.call('EXPIRE', rev, ARGV[5])
redis.call('EXPIRE', meta, ARGV[4])
redis.call('EXPIRE', hist, ARGV[4])
return {off, #ids}
