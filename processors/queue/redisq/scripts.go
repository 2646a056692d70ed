package redisq

import "github.com/redis/go-redis/v9"

// The scripts run the multi-step operations atomically, so a concurrent
// EnsureGroup, Read or Trim never sees them half done. In Redis Cluster
// every key of a queue must hash to one slot: give Prefix a hash tag,
// e.g. "{s3gate}:".

// takeScript claims up to max entries of the group idle for at least
// min-idle ms, reports each one's delivery count (XAUTOCLAIM increments it
// but does not return it), and tops up with new entries (without
// blocking). KEYS: stream. ARGV: group, consumer, min-idle ms, cursor, max.
// Reply: {next cursor, {{id, fields, deliveries}...}, {deleted ids}}.
var takeScript = redis.NewScript(`
local max = tonumber(ARGV[5])
local r = redis.call('XAUTOCLAIM', KEYS[1], ARGV[1], ARGV[2], ARGV[3], ARGV[4], 'COUNT', max)
local out = {}
for _, e in ipairs(r[2]) do
  local p = redis.call('XPENDING', KEYS[1], ARGV[1], e[1], e[1], 1)
  local n = 1
  if p[1] then n = p[1][4] end
  out[#out + 1] = {e[1], e[2], n}
end
if #out < max then
  local fresh = redis.call('XREADGROUP', 'GROUP', ARGV[1], ARGV[2], 'COUNT', max - #out, 'STREAMS', KEYS[1], '>')
  if fresh then
    for _, e in ipairs(fresh[1][2]) do
      out[#out + 1] = {e[1], e[2], 1}
    end
  end
end
return {r[1], out, r[3] or {}}
`)

// trimScript removes the entries every group has acknowledged: those
// older than, for each group, its oldest pending entry, or when it has
// none, the entry after its last delivered one. Without groups it removes
// nothing: a processor that has not started yet still needs the entries.
// Ids are compared as decimal strings, so any valid id works. KEYS: stream.
// Reply: entries removed.
var trimScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local function cmpnum(a, b)
  if #a ~= #b then return #a < #b end
  return a < b
end
local function incr(s)
  local i = #s
  while i > 0 and s:sub(i, i) == '9' do i = i - 1 end
  if i == 0 then return '1' .. string.rep('0', #s) end
  return s:sub(1, i - 1) .. string.char(s:byte(i) + 1) .. string.rep('0', #s - i)
end
local minMs, minSeq
local function consider(ms, seq)
  if not minMs or cmpnum(ms, minMs) or (ms == minMs and cmpnum(seq, minSeq)) then
    minMs, minSeq = ms, seq
  end
end
local groups = redis.call('XINFO', 'GROUPS', KEYS[1])
if #groups == 0 then return 0 end
for _, g in ipairs(groups) do
  local name, pending, last
  for i = 1, #g, 2 do
    if g[i] == 'name' then name = g[i + 1]
    elseif g[i] == 'pending' then pending = g[i + 1]
    elseif g[i] == 'last-delivered-id' then last = g[i + 1] end
  end
  if pending > 0 then
    local s = redis.call('XPENDING', KEYS[1], name)
    local ms, seq = string.match(s[2], '^(%d+)-(%d+)$')
    consider(ms, seq)
  else
    local ms, seq = string.match(last, '^(%d+)-(%d+)$')
    if seq == '18446744073709551615' then
      consider(incr(ms), '0')
    else
      consider(ms, incr(seq))
    end
  end
end
return redis.call('XTRIM', KEYS[1], 'MINID', minMs .. '-' .. minSeq)
`)

// deadLetterScript records a dead letter (once per original id) and
// acknowledges the entry. KEYS: stream, dead letters, index (original id →
// dead letter id). ARGV: group, id, body, reason, at (unix ms),
// deliveries.
var deadLetterScript = redis.NewScript(`
if redis.call('HEXISTS', KEYS[3], ARGV[2]) == 0 then
  local d = redis.call('XADD', KEYS[2], '*', 'id', ARGV[2], 'body', ARGV[3], 'reason', ARGV[4], 'at', ARGV[5], 'deliveries', ARGV[6])
  redis.call('HSET', KEYS[3], ARGV[2], d)
end
redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
return 1
`)

// replayScript publishes the named dead letters' bodies again and removes
// the dead letters. KEYS: stream, dead letters, index. ARGV: original ids.
// Reply: how many were replayed.
var replayScript = redis.NewScript(`
local n = 0
for _, id in ipairs(ARGV) do
  local d = redis.call('HGET', KEYS[3], id)
  if d then
    local e = redis.call('XRANGE', KEYS[2], d, d)
    if #e == 1 then
      local f = e[1][2]
      for i = 1, #f, 2 do
        if f[i] == 'body' then
          redis.call('XADD', KEYS[1], '*', 'body', f[i + 1])
          n = n + 1
        end
      end
      redis.call('XDEL', KEYS[2], d)
    end
    redis.call('HDEL', KEYS[3], id)
  end
end
return n
`)
