"""python -m emulators.bank_sandbox [--host H] [--port BANK_SANDBOX_PORT] [--settle-after 2] [--return-after 1]"""

import argparse

from emulators.bank_sandbox.server import serve
from shared.config import settings


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m emulators.bank_sandbox", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=None, help="default: BANK_SANDBOX_PORT (8090)")
    parser.add_argument("--settle-after", type=float, default=2.0, help="seconds from SUBMITTED to SETTLED")
    parser.add_argument("--return-after", type=float, default=1.0, help="seconds from SETTLED to RETURNED")
    args = parser.parse_args()
    serve(args.host, args.port or settings().port("bank_sandbox"), args.settle_after, args.return_after)


if __name__ == "__main__":
    main()
