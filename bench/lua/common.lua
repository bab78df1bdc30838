-- Shared by the bench/lua scenario scripts (loaded with dofile from the script's directory).
-- Gives each wrk thread an id, loads token files, and prints wrk's summary as one JSON line
-- (prefixed "WRK_JSON ") so bench/run does not have to parse wrk's text output.

local common = {}

local next_thread_id = 0

-- setup() runs in wrk's main Lua state, once per thread, before the threads start.
function common.setup(thread)
  next_thread_id = next_thread_id + 1
  thread:set("thread_id", next_thread_id)
end

-- A per-thread random seed: wall clock, thread id and a few bytes of /dev/urandom, so two
-- runs (or two wrk processes) never pick the same sequence.
function common.seed()
  local seed = os.time() * 1000 + (thread_id or 0) * 7919
  local f = io.open("/dev/urandom", "rb")
  if f then
    local bytes = f:read(4)
    f:close()
    for i = 1, #bytes do
      seed = (seed * 256 + bytes:byte(i)) % 2147483647
    end
  end
  math.randomseed(seed)
  return seed
end

-- Every line of `path` (token texts), as an array. Fails loudly if the file is empty.
function common.read_lines(path)
  local lines = {}
  local f = assert(io.open(path, "r"), "cannot open " .. tostring(path))
  for line in f:lines() do
    if #line > 0 then
      lines[#lines + 1] = line
    end
  end
  f:close()
  assert(#lines > 0, "no lines in " .. path)
  return lines
end

-- done() runs in the main state after the run: one JSON line with what bench/run needs.
function common.done(summary, latency, requests)
  local e = summary.errors
  local secs = summary.duration / 1e6
  io.write(string.format(
    'WRK_JSON {"requests":%d,"duration_s":%.6f,"bytes":%d,"rps":%.3f,' ..
    '"latency_us":{"p50":%.1f,"p90":%.1f,"p99":%.1f,"max":%.1f,"mean":%.1f,"stdev":%.1f},' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d}}\n',
    summary.requests, secs, summary.bytes, summary.requests / secs,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    latency.mean, latency.stdev,
    e.connect, e.read, e.write, e.status, e.timeout))
end

return common
