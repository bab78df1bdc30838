-- Scenario 4: PUT /users/me/ {"name", "bio"}, a different valid token (so a different user) on
-- every request, and a different name each time so every request really writes.
-- Usage: wrk ... -s put_me.lua URL -- TOKENS_FILE
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local common = dofile(dir .. "common.lua")

local auth = {}
local n = 0
local i = 0
local counter = 0

setup = common.setup
done = common.done

function init(args)
  common.seed()
  for k, token in ipairs(common.read_lines(args[1])) do
    auth[k] = "Token " .. token
  end
  n = #auth
  i = math.random(n)
end

function request()
  i = i % n + 1
  counter = counter + 1
  local body = string.format(
    '{"name":"Bench User %d-%d","bio":"Written by the benchmark, request %d of thread %d."}',
    thread_id or 0, counter, counter, thread_id or 0)
  return wrk.format("PUT", "/users/me/", {
    ["Authorization"] = auth[i],
    ["Content-Type"] = "application/json",
  }, body)
end
