-- wrk script for bench/run. The scenario and its data come from the environment:
--   BENCH_SCENARIO  healthz | send | send_email | verify_ok | verify_wrong | status
--   BENCH_KEY       the test API key (sk_test_...)
--   BENCH_DATA      file written by bench/prepare.py: "token code" per line
--   BENCH_THREADS   wrk's thread count (to spread the threads over the data)
-- done() prints one tab-separated RESULT line that bench/run parses.

local scenario = os.getenv("BENCH_SCENARIO") or "healthz"
local key = os.getenv("BENCH_KEY") or ""
local data_file = os.getenv("BENCH_DATA")
local nthreads = tonumber(os.getenv("BENCH_THREADS") or "2")

-- setup() runs in the main Lua state once per thread: number the threads, keep them for done().
local threads = {}
function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

local headers = { ["Content-Type"] = "application/json", ["X-API-Key"] = key }
local tokens, codes = {}, {}
local n, i = 0, 0
local phone = 0

function init(args)
  if data_file and data_file ~= "" then
    for line in io.lines(data_file) do
      local t, c = line:match("^(%S+)%s*(%S*)")
      if t then
        n = n + 1
        tokens[n], codes[n] = t, c
      end
    end
  end
  -- each thread starts at its own slice of the sessions
  if n > 0 then i = math.floor(id * n / nthreads) end
  phone = 0
  c2xx, c400, c429, cother = 0, 0, 0, 0
end

local function next_session()
  i = i % n + 1
  return tokens[i], codes[i]
end

-- A wrong code that is certain to differ from the real one: shift each digit by one.
local function wrong(code)
  if code == nil or code == "" then return "000000" end
  return (code:gsub("%d", function(d) return tostring((tonumber(d) + 1) % 10) end))
end

local builders = {
  -- A new UK mobile number each time, spread over 6,000 prefixes (+44 70000 to +44 75999, the
  -- 5 digits after the country code that the limits count a prefix by): real users' numbers
  -- are spread, and a run of sequential numbers in one prefix is what the pumping guard refuses.
  send = function()
    phone = phone + 1
    local k = id * 50000000 + phone
    return wrk.format("POST", "/api/v1/otp/send", headers, string.format(
      '{"channels":["sms"],"recipients":{"sms":"+447%04d%05d"},"max_attempts":20}',
      k % 6000, math.floor(k / 6000) % 100000))
  end,
  -- An email to a new address each time (bench/delivery: a live key, delivered by SMTP).
  send_email = function()
    phone = phone + 1
    return wrk.format("POST", "/api/v1/otp/send", headers, string.format(
      '{"channels":["email"],"recipients":{"email":"bench-%d-%d@example.com"}}', id, phone))
  end,
  verify_ok = function()
    local t, c = next_session()
    return wrk.format("POST", "/api/v1/otp/verify", headers,
      '{"session_token":"' .. t .. '","otps":{"email":"' .. c .. '"}}')
  end,
  verify_wrong = function()
    local t, c = next_session()
    return wrk.format("POST", "/api/v1/otp/verify", headers,
      '{"session_token":"' .. t .. '","otps":{"email":"' .. wrong(c) .. '"}}')
  end,
  status = function()
    local t = next_session()
    return wrk.format("POST", "/api/v1/otp/status", headers, '{"session_token":"' .. t .. '"}')
  end,
}

-- healthz uses wrk's static GET and no response hook (the hook costs wrk some CPU).
if scenario ~= "healthz" then
  request = builders[scenario]
  if request == nil then error("unknown BENCH_SCENARIO " .. scenario) end
  response = function(status, _, _)
    if status >= 200 and status < 300 then c2xx = c2xx + 1
    elseif status == 400 then c400 = c400 + 1
    elseif status == 429 then c429 = c429 + 1
    else cother = cother + 1 end
  end
end

function done(summary, latency, requests)
  local t2xx, t400, t429, tother = 0, 0, 0, 0
  for _, thread in ipairs(threads) do
    t2xx = t2xx + (thread:get("c2xx") or 0)
    t400 = t400 + (thread:get("c400") or 0)
    t429 = t429 + (thread:get("c429") or 0)
    tother = tother + (thread:get("cother") or 0)
  end
  local e = summary.errors
  if scenario == "healthz" then
    -- no response hook: derive the split from wrk's own non-2xx/3xx count
    t2xx = summary.requests - e.status
    tother = e.status
  end
  local secs = summary.duration / 1e6
  io.write(string.format("RESULT\t%s\t%.1f\t%.3f\t%.3f\t%.3f\t%d\t%d\t%d\t%d\t%d\t%d\n",
    scenario, summary.requests / secs,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.max / 1000,
    summary.requests, t2xx, t400, t429, tother,
    e.connect + e.read + e.write + e.timeout))
end
