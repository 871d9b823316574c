-- The Redis server's clock: now_ms() and now_us() (unix); seconds(ms), the text of a
-- time in unix seconds as qwsup writes it into a job's hash (qwsup:failed_at); and
-- past(deadline_us, done), whether a bounded loop that has done `done` steps is past
-- its deadline, the clock read every 8 steps only (TIME costs as much as a step).
local function now_us()
  local time = redis.call('TIME')
  return tonumber(time[1]) * 1000000 + tonumber(time[2])
end

local function now_ms()
  local time = redis.call('TIME')
  return tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
end

local function seconds(ms)
  return string.format('%.3f', ms / 1000)
end

local function past(deadline_us, done)
  return done % 8 == 0 and now_us() >= deadline_us
end
