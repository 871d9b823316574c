-- Finish a job: remove its id from the worker's own list and delete its hash, as one step.
-- Only the owner finishes: when the id is no longer in this worker's list (it was
-- requeued by someone else), nothing is deleted.
-- KEYS[1] = the worker's own list
-- KEYS[2] = the job hash
-- ARGV[1] = the job id
-- Returns 1 when the job was finished, 0 when this worker no longer owned it.
if redis.call('LREM', KEYS[1], -1, ARGV[1]) == 0 then
  return 0
end
redis.call('DEL', KEYS[2])
return 1
