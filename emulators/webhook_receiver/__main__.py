"""python -m emulators.webhook_receiver [--host 127.0.0.1] [--port WEBHOOK_RECEIVER_PORT]"""

import argparse

from emulators.webhook_receiver.server import serve
from shared.config import settings


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m emulators.webhook_receiver", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="a loopback address (anything else is refused)")
    parser.add_argument("--port", type=int, default=None, help="default: WEBHOOK_RECEIVER_PORT (8092)")
    args = parser.parse_args()
    serve(args.host, args.port or settings().port("webhook_receiver"))


if __name__ == "__main__":
    main()
