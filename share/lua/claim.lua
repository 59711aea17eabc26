-- A socket's first read of its session, on a relay: count the socket
-- against its user's and its address's limits on new WebSockets, then claim
-- an empty session for the user (so nobody waits in a session for another
-- user's reply). A socket over a limit claims nothing. A claim that never
-- gets a message is removed when the session's last socket leaves
-- (sessions_leave.lua), and lapses after ARGV[5] ms if nothing removes it.
-- KEYS: 1 stream:session:{S}  2 ratelimit:ws:{U}:<window>  3 ratelimit:wsaddr:{A}:<window>
-- ARGV: 1 U  2 new sockets allowed per user per window  3 per address
--       4 ms left in the window  5 TTL of a claim without a message (ms)
--       6 "1" to count this socket (its first read), "0" for a resync
-- Returns 'ok', 'rate_user' or 'rate_addr'.
if ARGV[6] == '1' then
  for i, limit in ipairs({ARGV[2], ARGV[3]}) do
    local used = redis.call('INCR', KEYS[i + 1])
    if used == 1 then redis.call('PEXPIRE', KEYS[i + 1], ARGV[4]) end
    if used > tonumber(limit) then
      return i == 1 and 'rate_user' or 'rate_addr'
    end
  end
end
if redis.call('HSETNX', KEYS[1], 'userId', ARGV[1]) == 1 then
  redis.call('PEXPIRE', KEYS[1], ARGV[5])
end
return 'ok'
