-- release_unique(prefix, key, id): a unique job's name (qwsup:unique) is free again once
-- the job is finished or failed for good, if the name still holds this job's id.
-- Included by ack, take, fail, requeue and reclaim.lua (the last two through put_back;
-- see SCRIPTS in queue.py).
local function release_unique(prefix, key, id)
  local name = redis.pcall('HGET', key, 'qwsup:unique')
  if type(name) == 'string' then
    local lock = prefix .. 'unique:' .. name
    if redis.call('GET', lock) == id then
      redis.call('DEL', lock)
    end
  end
end
