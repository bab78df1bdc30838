-- Scenario 3: POST /users/ with a new, unique address on every request:
-- bench-<thread>-<counter>-<random>@example.com (the random part differs per thread and run).
-- Usage: wrk ... -s register.lua URL -- PASSWORD
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local common = dofile(dir .. "common.lua")

local password
local tag
local counter = 0

setup = common.setup
done = common.done

function init(args)
  common.seed()
  password = args[1]
  assert(password, "usage: -- PASSWORD")
  tag = string.format("%08x", math.random(0, 0x7fffffff))
end

function request()
  counter = counter + 1
  local body = string.format('{"email":"bench-%d-%d-%s@example.com","password":"%s"}',
    thread_id or 0, counter, tag, password)
  return wrk.format("POST", "/users/", { ["Content-Type"] = "application/json" }, body)
end
