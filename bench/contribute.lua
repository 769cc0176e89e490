-- wrk script: one contribution per request, each with its own gameround (no replays).
-- Environment: TOKEN, BRAND, INSTANCE, PLAYERS (how many player ids to spread over),
-- CALLBACK (a webhook URL: asynchronous contributions), PREFIX (unique per run).
local counter = 0
local thread_id = 0
local threads = {}

function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end

function init(args)
  thread_id = tid
  token = os.getenv("TOKEN")
  brand = os.getenv("BRAND")
  instance = os.getenv("INSTANCE")
  players = tonumber(os.getenv("PLAYERS") or "1000")
  callback = os.getenv("CALLBACK")
  prefix = os.getenv("PREFIX") or "run"
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Authorization"] = "Bearer " .. token
end

function request()
  counter = counter + 1
  local player = "p-" .. ((counter * 7 + thread_id) % players)
  local cb = ""
  if callback and callback ~= "" then
    cb = ',"callback":{"web_hook":"' .. callback .. '","win_result_only":false}'
  end
  local body = '{"token":"t-' .. player .. '","brand_id":"' .. brand .. '","player_id":"' .. player ..
      '","player_country":"MT","instance_id":"' .. instance .. '","gameround_id":"' .. prefix .. "-" .. thread_id ..
      "-" .. counter .. '","currency":"EUR","base_wager":2.5' .. cb .. '}'
  return wrk.format(nil, "/jackpots/contribute", nil, body)
end

function done(summary, latency, requests)
  local errors = summary.errors.status + summary.errors.connect + summary.errors.read +
      summary.errors.write + summary.errors.timeout
  io.write(string.format('RESULT {"requests": %d, "duration_us": %d, "errors": %d, "non2xx": %d, ' ..
      '"p50_us": %d, "p95_us": %d, "p99_us": %d, "max_us": %d}\n',
      summary.requests, summary.duration, errors, summary.errors.status,
      latency:percentile(50), latency:percentile(95), latency:percentile(99), latency.max))
end
