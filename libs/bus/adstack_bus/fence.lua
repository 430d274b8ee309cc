-- Shared prelude of publish.lua and revert.lua (prepended when the scripts are loaded).
-- Fencing: check_fence(KEYS[5], ARGV[8]) returns an error reply to return, or nil.
-- '<n>': the key is the leader's token and must equal n. 'h<n>' (Redis Cluster): the key is
-- this contract's high-water mark; refuse a lower token, else raise it to n.
local function check_fence(key, token)
  if token == '-' then
    return nil
  end
  local current = redis.call('GET', key)
  if string.sub(token, 1, 1) == 'h' then
    local mine = tonumber(string.sub(token, 2))
    if current and tonumber(current) > mine then
      return redis.error_reply('NOTLEADER fencing token ' .. mine .. ' is stale')
    end
    if current ~= tostring(mine) then
      redis.call('SET', key, mine)
    end
  elseif current ~= token then
    return redis.error_reply('NOTLEADER fencing token ' .. token .. ' is stale')
  end
  return nil
end
