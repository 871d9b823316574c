-- Take the next job into the worker's own list and return it with its data.
-- Order: a job already in the worker's own list, then the host queue, then all:jobs.
-- Never blocks: when all three are empty it returns nil and the worker blocks on all:jobs.
-- KEYS[1] = the worker's own list (<name>.<pid>:jobs)
-- KEYS[2] = the host queue (<name>:jobs)
-- KEYS[3] = the shared queue (all:jobs)
-- ARGV[1] = the job hash prefix ("<namespace>job:")
-- Returns nil, or {id, type of the job key, {field, value, ...} when it is a hash}.
local id = redis.call('LINDEX', KEYS[1], -1)
if not id then
  id = redis.call('RPOPLPUSH', KEYS[2], KEYS[1])
  if not id then
    id = redis.call('RPOPLPUSH', KEYS[3], KEYS[1])
    if not id then
      return nil
    end
  end
end
local key = ARGV[1] .. id
local kind = redis.call('TYPE', key)['ok']
if kind ~= 'hash' then
  return {id, kind}
end
return {id, kind, redis.call('HGETALL', key)}
