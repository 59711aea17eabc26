-- Extends a lease, only for its holder.
-- KEYS: 1 stream:lock:{M}   ARGV: 1 owner  2 lease ms
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
