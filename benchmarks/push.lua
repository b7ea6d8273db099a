-- wrk script: STK Push bodies, each to its own phone, and a JSON summary at the end.
-- Arguments after "--": first phone number, body template (PHONE_MARK where the phone
-- goes), bearer token, number of wrk threads.
local PHONE_MARK = "254799999999"
local counter = 0
local first = 0
local stride = 1
local template = ""
local next_id = 0

function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
end

function init(args)
  first = tonumber(args[1])
  template = args[2]
  stride = tonumber(args[4])
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Authorization"] = "Bearer " .. args[3]
end

function request()
  -- Threads interleave their numbers so no two requests share a phone.
  local phone = string.format("%d", first + counter * stride + id)
  counter = counter + 1
  local body = string.gsub(template, PHONE_MARK, phone)
  return wrk.format(nil, nil, nil, body)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests":%d,"duration_us":%d,"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,"mean_us":%f}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean))
end
