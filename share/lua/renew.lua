-- Extends the leases of a worker's messages, each only for its holder (also
-- once the message is cancelled: the holder still has to finish it).
-- KEYS: stream:lock:{M} ...   ARGV: 1 lease ms, then the owner of each key
-- Returns how many leases were extended.
local extended = 0
for i, klock in ipairs(KEYS) do
  local holder = redis.call('GET', klock)
  if holder and (holder == ARGV[i + 1] or holder == ARGV[i + 1] .. '#cancelled') then
    redis.call('PEXPIRE', klock, ARGV[1])
    extended = extended + 1
  end
end
return extended
