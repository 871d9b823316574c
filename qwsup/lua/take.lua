-- Take the next job into the worker's own list and return it with its data.
-- Order: a job already in the worker's own list, then the host queue, then all:jobs.
-- Never blocks: when all three are empty it returns nil and the worker blocks on all:jobs.
-- Taking a job also (re-)registers the worker and its supervisor, in the same step, so
-- that a job in a worker's list can always be found from all:managers.
-- KEYS[1] = the worker's own list (<name>.<pid>:jobs)
-- KEYS[2] = the host queue (<name>:jobs)
-- KEYS[3] = the shared queue (all:jobs)
-- KEYS[4] = the supervisor's worker set (<name>:workers)
-- KEYS[5] = all:managers
-- ARGV[1] = the job hash prefix ("<namespace>job:")
-- ARGV[2] = the worker id (<name>.<pid>)
-- ARGV[3] = the supervisor name
-- Returns nil, or {id, type of the job key, {field, value, ...} when it is a hash}.
-- A job hash gets qwsup:started_at (unix ms, Redis clock) for `qwsup status`.
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
redis.call('SADD', KEYS[4], ARGV[2])
redis.call('SADD', KEYS[5], ARGV[3])
local key = ARGV[1] .. id
local kind = redis.call('TYPE', key)['ok']
if kind ~= 'hash' then
  return {id, kind}
end
local time = redis.call('TIME')
redis.call('HSET', key, 'qwsup:started_at', tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000))
return {id, kind, redis.call('HGETALL', key)}
