-- home(key, default): the queue a job (its hash `key`) goes back to, the one it was
-- taken from (qwsup:queue), else `default` (all:jobs).
-- qwsup:include fields
-- qwsup:include keys
local function home(key, default)
  local name = redis.pcall('HGET', key, F.QUEUE)
  if type(name) == 'string' and name ~= '' then
    return keys.queue_jobs(name)
  end
  return default
end
