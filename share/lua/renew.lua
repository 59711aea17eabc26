-- Extends the leases of a worker's messages, each only for its holder (also
-- once the message is cancelled: the holder still has to finish it), and
-- tells the worker which were cancelled, so that it stops a reply waiting
-- on a silent AI server at once rather than at its next append.
-- KEYS: stream:lock:{t}M ...   ARGV: 1 lease ms, then the owner of each key
-- Returns, per key: 1 extended, 2 extended and cancelled, 0 not the
-- owner's any more.
local out = {}
for i, klock in ipairs(KEYS) do
  local holder, owner = redis.call('GET', klock), ARGV[i + 1]
  if holder == owner or holder == owner .. '#cancelled' then
    redis.call('PEXPIRE', klock, ARGV[1])
    out[i] = holder == owner and 1 or 2
  else
    out[i] = 0
  end
end
return out
