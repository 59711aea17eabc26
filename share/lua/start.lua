-- A worker takes the lease on a message before generating it. The number of
-- chunks already written is the exact point to resume from, whoever wrote them.
-- KEYS: 1 stream:meta:{t}M  2 stream:lock:{t}M  3 stream:cancel:{t}M  4 stream:chunks:{t}M
-- ARGV: 1 owner  2 lease ms  3 now_ms
-- Returns {"ok"|"cancelled", chunks written} with the lease taken, or
-- {"gone"|"finished"|"locked", 0} without it.
local status = redis.call('HGET', KEYS[1], 'status')
if not status then
  return {'gone', 0}
end
if status == 'complete' or status == 'cancelled' or status == 'error' then
  return {'finished', 0}
end
if not redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return {'locked', 0}
end
redis.call('HSET', KEYS[1], 'owner', ARGV[1], 'status', 'streaming', 'updated_at', ARGV[3])
local n = redis.call('LLEN', KEYS[4])
if redis.call('EXISTS', KEYS[3]) == 1 then
  return {'cancelled', n}
end
return {'ok', n}
