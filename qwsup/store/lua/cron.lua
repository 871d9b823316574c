-- Claim a schedule's tick (qwsup/master/cron.py): a compare-and-set on the schedule's record,
-- and, when the claim fires the tick, its job enqueued, as one step. Of the masters
-- that claim the same tick, only the first finds the record as it expected: the tick
-- is enqueued once.
-- KEYS[1] = the schedule's record (all:cron:<name>): last_ms (the last tick handled),
--           job (the last job enqueued), fired_ms (its tick), fired, skipped (counts)
-- KEYS[2] = the job hash
-- KEYS[3] = delayed:jobs
-- KEYS[4] = its queue
-- KEYS[5] = unique:cron:<name> (a unique schedule)
-- KEYS[6] = finished:jobs
-- ARGV[1] = the key prefix ("<namespace>:" or "")
-- ARGV[2] = the most events all:events keeps, about (lib/events.lua; 0: none)
-- ARGV[3] = the last tick the master expects in the record (unix ms), '' for no record
-- ARGV[4] = the tick claimed (unix ms)
-- ARGV[5] = '1' to enqueue its job, '0' to only move the record on (a missed tick)
-- ARGV[6] = how many ticks before it were missed
-- ARGV[7] = the job id
-- ARGV[8] = its queue's name
-- ARGV[9] = its unique name ('' for none)
-- ARGV[10..] = field, value, ... (the job's)
-- Returns {'moved', the record's last tick or ''} when the record was not as expected
-- (nothing done), {'fired', id}, or {'skipped', holder} (a unique schedule's previous
-- job still queued or running; '' when the tick was only moved on).
-- qwsup:include enqueue
local last = redis.call('HGET', KEYS[1], 'last_ms') or ''
if last ~= ARGV[3] then
  return {'moved', last}
end
redis.call('HSET', KEYS[1], 'last_ms', ARGV[4])
local skipped = tonumber(ARGV[6])
if ARGV[5] ~= '1' then
  if last ~= '' then
    redis.call('HINCRBY', KEYS[1], 'skipped', skipped)
  end
  return {'skipped', ''}
end
local done = enqueue_job(
  KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], ARGV[7], '', '', ARGV[8], ARGV[9],
  {unpack(ARGV, 10)}
)
if done[1] == 0 then
  redis.call('HINCRBY', KEYS[1], 'skipped', skipped + 1)
  return {'skipped', done[2]}
end
if skipped > 0 then
  redis.call('HINCRBY', KEYS[1], 'skipped', skipped)
end
redis.call('HSET', KEYS[1], 'job', ARGV[7], 'fired_ms', ARGV[4])
redis.call('HINCRBY', KEYS[1], 'fired', 1)
return {'fired', ARGV[7]}
