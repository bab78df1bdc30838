-- Scenario 2 (and the storm of scenario 5): POST /token/ with the credentials of a random
-- seeded user on every request (bench_seed names them user<ID>@bench.example.com, all with
-- the same password).
-- Usage: wrk ... -s login.lua URL -- FIRST_ID LAST_ID PASSWORD
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local common = dofile(dir .. "common.lua")

local first, last, password

setup = common.setup
done = common.done

function init(args)
  common.seed()
  first = tonumber(args[1])
  last = tonumber(args[2])
  password = args[3]
  assert(first and last and password, "usage: -- FIRST_ID LAST_ID PASSWORD")
end

function request()
  local id = math.random(first, last)
  local body = string.format('{"email":"user%d@bench.example.com","password":"%s"}', id, password)
  return wrk.format("POST", "/token/", { ["Content-Type"] = "application/json" }, body)
end
