"""A small SMTP sink for the integration tests: a real SMTP server (aiosmtpd) on 127.0.0.1 and
a free port, which it prints on its first line of output. Each message it accepts is saved in
the directory given, as NNNN.eml, with the envelope recipients in an X-Envelope-To header.
With --fail-first N it answers the first N messages with a temporary failure (451), as a
mail server under load would. It exits when its standard input closes (the test is over)."""

import argparse
import asyncio
import os
import sys

from aiosmtpd.smtp import SMTP


class Sink:
    def __init__(self, directory, fail_first):
        self.directory = directory
        self.saved = 0
        self.failures_left = fail_first

    async def handle_DATA(self, server, session, envelope):
        if self.failures_left > 0:
            self.failures_left -= 1
            return "451 4.3.0 Try again later"
        self.saved += 1
        path = os.path.join(self.directory, f"{self.saved:04d}")
        with open(path + ".tmp", "wb") as f:
            f.write(b"X-Envelope-To: " + ", ".join(envelope.rcpt_tos).encode() + b"\r\n")
            f.write(envelope.original_content)
        os.replace(path + ".tmp", path + ".eml")
        return "250 2.0.0 OK"


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("directory")
    parser.add_argument("--fail-first", type=int, default=0)
    args = parser.parse_args()
    loop = asyncio.get_running_loop()
    sink = Sink(args.directory, args.fail_first)
    server = await loop.create_server(lambda: SMTP(sink), "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    await loop.run_in_executor(None, sys.stdin.read)


asyncio.run(main())
