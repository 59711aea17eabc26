-- Appends one chunk: only the lease holder may write (fencing), never after a
-- cancel, and only at the index the caller expects, so a chunk can be neither
-- lost nor written twice. The chunk frame is published in the same step, so
-- what is cached and what is broadcast cannot disagree.
-- KEYS: 1 stream:chunks:{M}  2 stream:meta:{M}  3 stream:lock:{M}  4 stream:cancel:{M}
-- ARGV: 1 owner  2 index  3 content  4 channel  5 chunk frame  6 lease ms  7 now_ms
-- Returns the new chunk count, or "lease", "cancelled", "index:<count>".
if redis.call('GET', KEYS[3]) ~= ARGV[1] then
  return 'lease'
end
if redis.call('EXISTS', KEYS[4]) == 1 then
  return 'cancelled'
end
local n = redis.call('LLEN', KEYS[1])
if n ~= tonumber(ARGV[2]) then
  return 'index:' .. n
end
redis.call('RPUSH', KEYS[1], ARGV[3])
redis.call('HSET', KEYS[2], 'total_chunks', n + 1, 'updated_at', ARGV[7])
redis.call('PEXPIRE', KEYS[3], ARGV[6])
redis.call('PUBLISH', ARGV[4], ARGV[5])
return n + 1
