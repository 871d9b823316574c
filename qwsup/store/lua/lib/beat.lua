-- beat(info): what a supervisor's record shows of its life, "token:beats:heartbeat_ms";
-- it changes with every heartbeat of its holder. A watcher compares it over time
-- (beats.lua); reclaim.lua reclaims only if it is still what the watcher saw.
local function beat(info)
  local v = redis.call('HMGET', info, 'token', 'beats', 'heartbeat_ms')
  return (v[1] or '') .. ':' .. (v[2] or '') .. ':' .. (v[3] or '')
end
