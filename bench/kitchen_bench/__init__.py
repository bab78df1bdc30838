"""The benchmark harness of kitchen-api, as a package.

`bench/run` (the full benchmark and its report) and `bench/ab` (two binaries alternated on one
database) are its entry points. The pure parts, `stats`, `verdict` and `report`, take plain
dicts and return numbers or text, so `python3 -m unittest discover bench` tests them without
a server, wrk or a database; `system`, `drivers` and `runner` touch the machine.
"""
