-- A socket's first read of its session, on a relay, once it has passed its
-- user's and its address's limits on new WebSockets (ratelimit.lua): claim
-- an empty session for the user (so nobody waits in a session for another
-- user's reply). A claim that never gets a message is removed when the
-- session's last socket on any relay leaves (sessions_leave.lua), and
-- lapses after ARGV[2] ms if nothing removes it.
-- KEYS: 1 stream:session:{t}S
-- ARGV: 1 U  2 TTL of a claim without a message (ms)
-- Returns 'ok'.
if redis.call('HSETNX', KEYS[1], 'userId', ARGV[1]) == 1 then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 'ok'
