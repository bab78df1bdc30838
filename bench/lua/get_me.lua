-- Scenario 1: GET /users/me/ with a different valid token on every request.
-- Usage: wrk ... -s get_me.lua URL -- TOKENS_FILE
-- Each thread walks the token file from its own offset, so requests spread over all the users
-- whose tokens are in the file (bench_seed spreads those over the whole table).
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local common = dofile(dir .. "common.lua")

local requests = {}
local n = 0
local i = 0

setup = common.setup
done = common.done

function init(args)
  common.seed()
  local tokens = common.read_lines(args[1])
  -- Whole request texts, built once: the load generator shares the CPU with the server, so
  -- the per-request Lua work is kept to an array lookup.
  for k, token in ipairs(tokens) do
    requests[k] = wrk.format("GET", "/users/me/", { ["Authorization"] = "Token " .. token })
  end
  n = #requests
  i = math.random(n)
end

function request()
  i = i % n + 1
  return requests[i]
end
