-- Record a running job's progress: its fraction, message and when (unix ms, Redis
-- clock), only while the job runs on this worker (a job requeued meanwhile, or that
-- has ended, is left as it is).
-- KEYS[1] = the job hash
-- ARGV[1] = the key prefix ("<namespace>:" or "")
-- ARGV[2] = the most events all:events keeps, about (lib/events.lua; 0: none)
-- ARGV[3] = the worker id (<name>.<pid>)
-- ARGV[4] = the fraction done, from 0 to 1
-- ARGV[5] = a short message, or ''
-- Returns 1 when recorded, else 0.
-- qwsup:include fields
-- qwsup:include clock
-- qwsup:include events
if redis.call('TYPE', KEYS[1])['ok'] ~= 'hash' then
  return 0
end
local found = redis.call('HMGET', KEYS[1], F.STATE, F.WORKER, F.QUEUE)
if found[1] ~= 'running' or found[2] ~= ARGV[3] then
  return 0
end
redis.call(
  'HSET', KEYS[1], F.PROGRESS, ARGV[4], F.PROGRESS_MSG, ARGV[5],
  F.PROGRESS_AT, now_ms()
)
local id = string.sub(KEYS[1], #ARGV[1] + 5)  -- (KEYS[1] is <prefix>job:<id>)
emit('progress', id, found[3] or 'all', ARGV[3], 'progress', ARGV[4], 'message', ARGV[5])
return 1
