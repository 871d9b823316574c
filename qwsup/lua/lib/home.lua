-- home(prefix, key, default): the queue a job goes back to, the one it was taken from
-- (qwsup:queue), else `default` (all:jobs).
-- Included by giveback, promote and take.lua, and by requeue and reclaim.lua (for
-- put_back; see SCRIPTS in queue.py).
local function home(prefix, key, default)
  local name = redis.pcall('HGET', key, 'qwsup:queue')
  if type(name) == 'string' and name ~= '' then
    return prefix .. name .. ':jobs'
  end
  return default
end
