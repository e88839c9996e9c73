"""``python -m tests.fakevenue binance --port 0``: serve a fake venue, print ``{"url": ...}``, run until killed."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys

from tests.fakevenue.runner import VENUES, start_fake_venue


async def _serve(kind: str, host: str, port: int) -> None:
    handle = await start_fake_venue(kind, host=host, port=port)
    print(json.dumps({"url": handle.url, "kind": kind}), flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await handle.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.fakevenue", description=__doc__)
    parser.add_argument("kind", choices=sorted(VENUES))
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    try:
        asyncio.run(_serve(args.kind, args.host, args.port))
    except KeyboardInterrupt:
        sys.exit(0)


if __name__ == "__main__":
    main()
