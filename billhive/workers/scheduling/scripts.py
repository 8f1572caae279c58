"""The dispatcher's Lua scripts: every state change of the scheduler is one atomic script.

Redis runs a script without interleaving any other command, so the limit check and the
consumption of every bucket of a call, the choice of the tenant and the removal of its head
job happen as one step, whatever number of worker processes pop at the same time. Times come
from Redis ``TIME`` inside the script (one clock for every machine); tests and simulations
may pass an explicit time instead.

Every script receives the same first four arguments:
``ARGV[1]`` dispatcher key prefix (``billhive:d:``), ``ARGV[2]`` tenant queue key prefix
(``rq:queue:billhive:t:``), ``ARGV[3]`` RQ job key prefix (``rq:job:``), ``ARGV[4]`` the
time to use, or ``""`` for Redis ``TIME``. Keys are built inside the scripts (a tenant's
queue and a job's buckets are only known there), so the dispatcher needs one Redis server,
not a cluster.

Times leave a script as strings formatted ``%.6f``: Redis turns Lua numbers into integers
and Lua's own ``tostring`` keeps only 14 digits (0.1 ms at today's epoch).
"""

from __future__ import annotations

#: Field of the RQ job hash that holds the job's buckets (see buckets.encode_buckets).
BUCKETS_FIELD = "billhive_buckets"
#: Field of the RQ job hash: the job may not start before this time (a retry's backoff).
NOT_BEFORE_FIELD = "billhive_not_before"

_PRELUDE = """
local P, QP, JP = ARGV[1], ARGV[2], ARGV[3]
local function fmt(x) return string.format('%.6f', x) end
local function clock()
  if ARGV[4] ~= '' then return tonumber(ARGV[4]) end
  local t = redis.call('TIME')
  return tonumber(t[1]) + tonumber(t[2]) / 1000000
end
local now = clock()

-- Put a tenant into the ready set if it has work and may run: not paused, nothing in
-- flight, not already ready or waiting for its buckets. Its start tag is the virtual
-- clock, or its own finish tag when that is later (start-time fair queuing), so an idle
-- tenant starts at once and a busy one waits one turn behind everyone else.
local function activate(t)
  if redis.call('SISMEMBER', P .. 'paused', t) == 1 then return 0 end
  if redis.call('HEXISTS', P .. 'running', t) == 1 then return 0 end
  if redis.call('LLEN', QP .. t) == 0 then return 0 end
  if redis.call('ZSCORE', P .. 'ready', t) then return 0 end
  if redis.call('ZSCORE', P .. 'delayed', t) then return 0 end
  local v = tonumber(redis.call('GET', P .. 'vclock') or '0')
  local f = tonumber(redis.call('HGET', P .. 'finish', t) or '0')
  if f > v then v = f end
  redis.call('ZADD', P .. 'ready', fmt(v), t)
  redis.call('LPUSH', P .. 'wake', '1')
  redis.call('LTRIM', P .. 'wake', 0, 63)
  return 1
end

-- The token of the tenant's in-flight job is "<job id>|<dispatch number>".
local function running_job(t)
  local token = redis.call('HGET', P .. 'running', t)
  if not token then return nil, nil end
  return string.match(token, '^(.*)|[0-9]+$'), token
end

local function finish_running(t)
  redis.call('HDEL', P .. 'running', t)
  redis.call('ZREM', P .. 'leases', t)
end

-- The time until which every dispatch is held (0: none); read once per script.
local held = nil
local function current_hold()
  if held == nil then held = tonumber(redis.call('GET', P .. 'hold') or '0') end
  return held
end

-- Hold every dispatch until ``untl`` (a later hold already in place is kept).
local function hold_until(untl)
  local current = current_hold()
  if current >= untl then return fmt(current) end
  redis.call('SET', P .. 'hold', fmt(untl), 'PX', math.ceil((untl - now) * 1000) + 1000)
  held = untl
  return fmt(untl)
end
"""

#: What POP and RESTAMP share: a job's buckets, their check and their consumption.
_BUCKETS = """
-- The buckets of a job: lines "key TAB limit TAB period TAB shared". A bucket is
-- {key, limit, window, shared}: shared (key-wide) limits keep ``headroom`` calls free,
-- every window is the period plus the jitter allowance ``pad``.
local function parse(spec, pad, headroom)
  local out = {}
  for line in string.gmatch(spec, '[^\\n]+') do
    local key, limit, period, shared = string.match(line, '^(.-)\\t(%d+)\\t([%d.]+)\\t([01])$')
    if key then
      local n = tonumber(limit)
      if shared == '1' then n = math.max(1, n - headroom) end
      out[#out + 1] = {key, n, tonumber(period) + pad, shared == '1'}
    end
  end
  return out
end

-- Sliding log per bucket: call times inside (now - window, now]. Returns nil when every
-- bucket has room, else the time all blocked buckets free and whether only shared (key
-- wide) buckets block. A hold (see HOLD) blocks every call, like a shared bucket.
local function check(buckets)
  local free, own = nil, false
  local hold = current_hold()
  if hold > now then free = hold end
  for _, b in ipairs(buckets) do
    local log = P .. 'b:' .. b[1]
    redis.call('ZREMRANGEBYSCORE', log, '-inf', fmt(now - b[3]))
    local n = redis.call('ZCARD', log)
    local f = nil
    if n >= b[2] then
      local e = redis.call('ZRANGE', log, n - b[2], n - b[2], 'WITHSCORES')
      f = tonumber(e[2]) + b[3] + 0.000001
    end
    local pen = tonumber(redis.call('GET', P .. 'pen:' .. b[1]) or '0')
    if pen > now and (f == nil or pen > f) then f = pen end
    if f then
      if free == nil or f > free then free = f end
      if not b[4] then own = true end
    end
  end
  return free, not own
end

-- Record the job's call at ``at`` (now, or a reserved time at most one window ahead).
-- The log outlives its latest entry's window even when a later call, stamped nearer
-- now, sets the expiry: hence one window more than that entry needs.
local function consume(buckets, job, at)
  for _, b in ipairs(buckets) do
    local log = P .. 'b:' .. b[1]
    redis.call('ZADD', log, fmt(at), fmt(at) .. '|' .. job)
    redis.call('PEXPIRE', log, math.ceil((at - now + 2 * b[3]) * 1000) + 1000)
  end
end

-- The job's latest entry in a log: member and time, or nil.
local function own_entry(log, job)
  local suffix = '|' .. job
  local scored = redis.call('ZREVRANGE', log, 0, -1, 'WITHSCORES')
  for i = 1, #scored, 2 do
    if string.sub(scored[i], -#suffix) == suffix then
      return scored[i], tonumber(scored[i + 1])
    end
  end
  return nil, nil
end
"""

#: Append a job id to a tenant's queue (or put it at the head) and make the tenant ready.
#: ARGV[5] tenant, ARGV[6] job id, ARGV[7] "1" for the head, ARGV[8] "1" for a repair
#: (the reconciler's): then a job already queued or in flight is left alone (returns 0),
#: so pushing a job again is harmless. A job that is its tenant's in-flight job (a retry,
#: a requeue) always goes back to the head and ends the flight, so retries never overtake
#: the tenant's later jobs. Returns 2 for that case, else 1.
PUSH = (
    _PRELUDE
    + """
local t, job, front = ARGV[5], ARGV[6], ARGV[7]
local q = QP .. t
local current = running_job(t)
if ARGV[8] == '1' and (current == job or redis.call('LPOS', q, job)) then
  activate(t)
  return 0
end
if current == job then
  redis.call('LREM', q, 0, job)
  redis.call('LPUSH', q, job)
  finish_running(t)
  activate(t)
  return 2
end
if front == '1' then
  redis.call('LPUSH', q, job)
else
  redis.call('RPUSH', q, job)
end
activate(t)
return 1
"""
)

#: End a dispatch: ARGV[5] tenant, ARGV[6] token. Only the matching token ends it (a stale
#: release after a retry was dispatched again must not end the new flight). Returns 1/0.
RELEASE = (
    _PRELUDE
    + """
local t, token = ARGV[5], ARGV[6]
local _, current = running_job(t)
if current ~= token then return 0 end
finish_running(t)
activate(t)
return 1
"""
)

#: Recovery: put the in-flight job of ARGV[5] (token ARGV[6]) back at the head of its
#: tenant's queue (moving it there if RQ re-queued it elsewhere) and end the flight.
REQUEUE_HEAD = (
    _PRELUDE
    + """
local t, token = ARGV[5], ARGV[6]
local job, current = running_job(t)
if current ~= token then return 0 end
local q = QP .. t
redis.call('LREM', q, 0, job)
redis.call('LPUSH', q, job)
finish_running(t)
activate(t)
return 1
"""
)

#: Pause (ARGV[6] == "1") or resume (else) tenant ARGV[5]. A paused tenant leaves the ready
#: and delayed sets; its queue and any in-flight job are untouched.
SET_PAUSED = (
    _PRELUDE
    + """
local t, pause = ARGV[5], ARGV[6]
if pause == '1' then
  redis.call('SADD', P .. 'paused', t)
  redis.call('ZREM', P .. 'ready', t)
  redis.call('ZREM', P .. 'delayed', t)
  redis.call('HDEL', P .. 'held', t)
  return 1
end
redis.call('SREM', P .. 'paused', t)
return activate(t)
"""
)

#: Make tenant ARGV[5] ready if it has work and nothing stops it (repairs a queue that
#: something other than the dispatcher pushed to, such as `rq requeue`). Returns 1 if added.
ACTIVATE = (
    _PRELUDE
    + """
return activate(ARGV[5])
"""
)

#: Slow a bucket down after a 429: ARGV[5] bucket key, ARGV[6] seconds. The bucket admits
#: nothing until then; a longer penalty already in place is kept.
PENALIZE = (
    _PRELUDE
    + """
local key, seconds = P .. 'pen:' .. ARGV[5], tonumber(ARGV[6])
local untl = now + seconds
local current = tonumber(redis.call('GET', key) or '0')
if current >= untl then return fmt(current) end
redis.call('SET', key, fmt(untl), 'PX', math.ceil(seconds * 1000) + 1000)
return fmt(untl)
"""
)

#: Hold job ARGV[5] back for ARGV[6] seconds (a retry's backoff). While it is its tenant's
#: head job, the tenant waits in the delayed set; other tenants go on. Returns the time.
DEFER = (
    _PRELUDE
    + """
local untl = now + tonumber(ARGV[6])
redis.call('HSET', JP .. ARGV[5], 'billhive_not_before', fmt(untl))
return fmt(untl)
"""
)

#: Move a dispatched job's entries in its bucket logs to the current time, just before its
#: call is sent. Between the pop and the send lie a few milliseconds of job start-up whose
#: length varies with load; Billbee counts arrivals, so the logs should hold send times.
#: Only ever moves an entry later, which keeps every window within its limit as long as
#: the entry is still inside its window: the calls admitted meanwhile counted it. An entry
#: that has left its window (a start-up longer than the period: a cold worker, a stalled
#: machine) no longer counted for anyone, so its call needs a slot again: it gets one now
#: if the bucket has room, else one is reserved for when the bucket frees.
#: ARGV[5] job id, ARGV[6] jitter allowance, ARGV[7] shared headroom (as for POP).
#: Returns {moved, wait}: how many entries moved to now, or, when the job holds a slot
#: that is not free yet (reserved by POP's lead or just now), nothing moved and the
#: seconds until it is: send no earlier.
RESTAMP = (
    _PRELUDE
    + _BUCKETS
    + """
local job = ARGV[5]
local hold = current_hold()
if hold > now then return {0, fmt(hold - now)} end
local buckets = parse(redis.call('HGET', JP .. job, 'billhive_buckets') or '',
  tonumber(ARGV[6]), tonumber(ARGV[7]))
local wait, stale, entries = 0, {}, {}
for i, b in ipairs(buckets) do
  local log = P .. 'b:' .. b[1]
  local m, at = own_entry(log, job)
  if at and at > now and at - now > wait then wait = at - now end
  if not at or at <= now - b[3] then stale[#stale + 1] = b end
  entries[i] = {log, m, at}
end
if wait > 0 then return {0, fmt(wait)} end
if #stale > 0 then
  local free = check(stale)  -- its trim drops the job's own expired entries
  if free then
    consume(stale, job, free)
    return {0, fmt(free - now)}
  end
end
local moved = 0
for i, b in ipairs(buckets) do
  local log, m, at = entries[i][1], entries[i][2], entries[i][3]
  if not at or now > at then
    if m then redis.call('ZREM', log, m) end
    consume({b}, job, now)
    moved = moved + 1
  end
end
return {moved, '0'}
"""
)

#: Hold every dispatch until ARGV[5] seconds from now (a longer hold is kept): after Redis
#: was unreachable or lost data, the bucket logs may lack calls Billbee still counts.
#: Returns the time the hold ends.
HOLD = (
    _PRELUDE
    + """
return hold_until(now + tonumber(ARGV[5]))
"""
)

#: Put calls made before Redis lost its data back into one bucket's log, so limits with
#: long windows (an order's 6 reads a minute, its invoice every 5 minutes) hold across
#: the loss. ARGV[5] the bucket line (see buckets.encode_bucket), then pairs of ARGV:
#: time, job id. A job that has an entry in the log already is skipped. Returns how many
#: entries were added.
REMEMBER = (
    _PRELUDE
    + _BUCKETS
    + """
local b = parse(ARGV[5], 0, 0)[1]
if not b then return 0 end
local log = P .. 'b:' .. b[1]
local added = 0
for i = 6, #ARGV, 2 do
  local at, job = tonumber(ARGV[i]), ARGV[i + 1]
  if at > now - b[3] and not own_entry(log, job) then
    consume({b}, job, at)
    added = added + 1
  end
end
return added
"""
)

#: Choose the next job. ARGV[5] K (candidates tried at most), ARGV[6] jitter allowance in
#: seconds (added to every bucket's period), ARGV[7] headroom: calls kept free in every
#: shared (key-wide) bucket, ARGV[9] the hold after a cold start (see below),
#: ARGV[8] lead in seconds: a job whose buckets all free within
#: the lead is dispatched now with its call reserved at the time they free (``at``), so
#: the worker prepares it while the slot is still taken and sends at ``at`` (RESTAMP says
#: when) instead of starting only then; workers waiting for the key-wide window and
#: tenants delayed by their own buckets come back ``lead`` early for the same reason.
#:
#: Returns {"go", tenant, job id, token, at} after consuming every bucket of the job at
#: ``at`` (now, or up to ``lead`` later), {"wait", until, now} when nothing may start
#: before ``until`` (``until == now``: more candidates than K were blocked, pop again), or
#: {"idle", "", now} when no tenant has work.
POP = (
    _PRELUDE
    + _BUCKETS
    + """
local K, pad, headroom = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
local lead = tonumber(ARGV[8] or '0')
local cold = tonumber(ARGV[9] or '0')

-- No epoch: this Redis holds none of the dispatcher's past (new, or restarted empty), so
-- its bucket logs are empty although Billbee still counts the calls of the last window:
-- hold every call for one window before the first goes out.
if redis.call('EXISTS', P .. 'epoch') == 0 then
  redis.call('SET', P .. 'epoch', fmt(now))
  if cold > 0 then hold_until(now + cold) end
end

-- Tenants whose buckets have freed come back with the start tag they had.
local due = redis.call('ZRANGEBYSCORE', P .. 'delayed', '-inf', fmt(now + lead), 'LIMIT', 0, 2 * K)
for _, t in ipairs(due) do
  redis.call('ZREM', P .. 'delayed', t)
  local tag = redis.call('HGET', P .. 'held', t) or '0'
  redis.call('HDEL', P .. 'held', t)
  redis.call('ZADD', P .. 'ready', tag, t)
end

local cands = redis.call('ZRANGE', P .. 'ready', 0, K - 1, 'WITHSCORES')
for i = 1, #cands, 2 do
  local t, tag = cands[i], tonumber(cands[i + 1])
  local q = QP .. t
  local job = redis.call('LINDEX', q, 0)
  if not job or redis.call('SISMEMBER', P .. 'paused', t) == 1
      or redis.call('HEXISTS', P .. 'running', t) == 1 then
    redis.call('ZREM', P .. 'ready', t)
  elseif redis.call('EXISTS', JP .. job) == 0 then
    redis.call('LPOP', q)  -- deleted while queued, as RQ skips it too
  else
    local buckets = parse(redis.call('HGET', JP .. job, 'billhive_buckets') or '', pad, headroom)
    local free, shared_only = check(buckets)
    local not_before = tonumber(redis.call('HGET', JP .. job, 'billhive_not_before') or '0')
    if not_before > now then
      if free == nil or not_before > free then free = not_before end
      shared_only = false
    end
    local at = now
    if free ~= nil and free <= now + lead then
      at, free = free, nil
    end
    if free == nil then
      consume(buckets, job, at)
      redis.call('LPOP', q)
      redis.call('ZREM', P .. 'ready', t)
      local seq = redis.call('INCR', P .. 'seq')
      local token = job .. '|' .. seq
      redis.call('HSET', P .. 'running', t, token)
      redis.call('ZADD', P .. 'leases', fmt(now), t)
      local v = tonumber(redis.call('GET', P .. 'vclock') or '0')
      if tag > v then redis.call('SET', P .. 'vclock', fmt(tag)) end
      redis.call('HSET', P .. 'finish', t, fmt(tag + 1))
      return {'go', t, job, token, fmt(at)}
    elseif shared_only then
      return {'wait', fmt(free - lead), fmt(now)}
    else
      redis.call('ZREM', P .. 'ready', t)
      redis.call('ZADD', P .. 'delayed', fmt(free), t)
      redis.call('HSET', P .. 'held', t, fmt(tag))
    end
  end
end
if redis.call('ZCARD', P .. 'ready') > 0 then return {'wait', fmt(now), fmt(now)} end
local d = redis.call('ZRANGE', P .. 'delayed', 0, 0, 'WITHSCORES')
if #d > 0 then return {'wait', fmt(tonumber(d[2]) - lead), fmt(now)} end
return {'idle', '', fmt(now)}
"""
)
