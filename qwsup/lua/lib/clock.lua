-- The Redis server's clock: now_ms() and now_us() (unix), and seconds(ms), the text
-- of a time in unix seconds as qwsup writes it into a job's hash (qwsup:failed_at).
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
