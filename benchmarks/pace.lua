-- wrk script for routecar's benchmark: a chat completion POST, optionally paced to a fixed rate.
--
--   wrk -t1 -c8 -d10s -s benchmarks/pace.lua URL -- RATE MODEL
--
-- RATE is requests per second for the whole run (one thread: wrk -t1); 0 means unpaced (as
-- fast as the connections allow, for max RPS). wrk2 is not in Debian, so pacing is done here:
-- wrk asks `delay()` after each response how many ms to wait before that connection's next
-- request; every call reserves the next slot of one shared schedule (start + k / RATE), so the
-- connections together send at RATE whatever the latency, and a late slot is sent at once.
-- Latency is timed by wrk from the write of each request (no coordinated-omission correction).
-- `done()` prints one line `WRKJSON {...}` that benchmarks/run.py parses (latencies in us).

local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_nsec; } rc_timespec;
int clock_gettime(int clk_id, rc_timespec *tp);
]]
local ts = ffi.new("rc_timespec")
local CLOCK_MONOTONIC = 1

local function now_ms()
  ffi.C.clock_gettime(CLOCK_MONOTONIC, ts)
  return tonumber(ts.tv_sec) * 1000 + tonumber(ts.tv_nsec) / 1e6
end

local interval, next_at

local function paced_delay()
  local now = now_ms()
  if next_at == nil then next_at = now end
  next_at = next_at + interval
  local wait = next_at - now
  if wait < 0 then return 0 end
  return wait
end

function init(args)
  local rate = tonumber(args[1]) or 0
  local model = args[2] or "gpt-4o-mini"
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  wrk.body = '{"model":"' .. model .. '","messages":[{"role":"system","content":"You are terse."},'
    .. '{"role":"user","content":"Summarize the benefits of a sidecar proxy in one sentence."}],'
    .. '"temperature":0.2,"max_tokens":256}'
  if rate > 0 then
    interval = 1000 / rate
    delay = paced_delay  -- wrk only paces when a global `delay` exists after init
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests":%d,"duration_us":%d,"bytes":%d,"err_connect":%d,"err_read":%d,'
    .. '"err_write":%d,"err_status":%d,"err_timeout":%d,"p50":%d,"p90":%d,"p99":%d,"p999":%d,'
    .. '"max":%d,"mean":%.1f}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status,
    e.timeout, latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency:percentile(99.9), latency.max, latency.mean))
end
