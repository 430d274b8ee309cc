-- Record the ingester's view of the chain after a block was processed, atomically and only
-- for the current leader: store new block records, update the canonical height → block
-- map, trim what fell out of the reorg window, move the checkpoint (the tip) and publish
-- the feed frames (block / transaction) of the blocks that became canonical.
--
-- KEYS[1] fencing token  KEYS[2] checkpoint hash  KEYS[3] canonical map  KEYS[4] block set
-- KEYS[4+i] record key of new block record i
-- ARGV[1] caller's fencing token ('-' = none)  ARGV[2] record TTL seconds
-- ARGV[3] lowest height to keep in the block set  ARGV[4] tip height ('' = leave the tip)
-- ARGV[5] tip block hash  ARGV[6] tip index block hash  ARGV[7] publish command
-- ARGV[8] N canonical entries to set  ARGV[9] M canonical heights to delete
-- ARGV[10] the feed frames: a MessagePack array of (channel, frame) string pairs ('' =
-- none; one argument instead of two per frame keeps the call cheap to encode)
-- then N × (height, index hash), M × height, then per record i: (height, index hash,
-- record bytes)
-- The feed frames are built by adstack_protocol.wire and published as they are.
-- Returns 1, or the error NOTLEADER.
if ARGV[1] ~= '-' and redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return redis.error_reply('NOTLEADER fencing token ' .. ARGV[1] .. ' is stale')
end
local n, m = tonumber(ARGV[8]), tonumber(ARGV[9])
local a = 10
for _ = 1, n do
  redis.call('HSET', KEYS[3], ARGV[a + 1], ARGV[a + 2])
  a = a + 2
end
for _ = 1, m do
  redis.call('HDEL', KEYS[3], ARGV[a + 1])
  a = a + 1
end
if ARGV[10] ~= '' then
  local feeds = cmsgpack.unpack(ARGV[10])
  for i = 1, #feeds, 2 do
    redis.call(ARGV[7], feeds[i], feeds[i + 1])
  end
end
for i = 5, #KEYS do
  redis.call('SET', KEYS[i], ARGV[a + 3], 'EX', ARGV[2])
  redis.call('ZADD', KEYS[4], ARGV[a + 1], ARGV[a + 2])
  a = a + 3
end
redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', '(' .. ARGV[3])
if ARGV[4] ~= '' then
  redis.call('HSET', KEYS[2], 'height', ARGV[4], 'hash', ARGV[5], 'indexBlockHash', ARGV[6])
end
return 1
