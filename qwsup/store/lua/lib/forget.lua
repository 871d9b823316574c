-- forget(id): job `id`'s hash removed for good (it ended, or is purged), and the unique
-- name it still holds freed; nothing when its key holds no hash.
-- qwsup:include keys
-- qwsup:include unique
local function forget(id)
  local key = keys.job(id)
  if redis.call('TYPE', key)['ok'] == 'hash' then
    release_unique(key, id)
    redis.call('DEL', key)
  end
end
