"""The PyTorch workers' side of the driver protocol (bench/shared.ts's serveCommands): one command per
line on stdin, one JSON reply per line on stdout, 'quit' (or end of input) to stop."""
import json
import sys


def serve(handle):
    while True:
        line = sys.stdin.readline()
        if not line or line.strip() == "quit":
            return
        try:
            reply = handle(line.strip())
        except Exception as error:  # reported to the driver, which stops
            reply = {"error": repr(error)}
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()
