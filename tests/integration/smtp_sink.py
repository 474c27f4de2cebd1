"""A real SMTP server (aiosmtpd) for the alert tests.

Listens on 127.0.0.1 on a free port, prints {"listening": PORT} once ready, then one JSON
line per message received: the envelope (sender, recipients), the headers the tests read
and both bodies, decoded. Runs until its standard input closes.

Run with Debian's interpreter, which sees the python3-aiosmtpd package:
    /usr/bin/python3 tests/integration/smtp_sink.py
"""

import email
import json
import socket
import sys
from email import policy

from aiosmtpd.controller import Controller


class Sink:
    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.content, policy=policy.default)
        bodies = {}
        for part in message.walk():
            kind = part.get_content_type()
            if kind in ("text/plain", "text/html"):
                bodies[kind] = part.get_content().replace("\r\n", "\n")
        print(
            json.dumps(
                {
                    "mail_from": envelope.mail_from,
                    "rcpt_tos": envelope.rcpt_tos,
                    "from": str(message["from"]),
                    "to": str(message["to"]),
                    "subject": str(message["subject"]),
                    "message_id": str(message["message-id"]),
                    "text": bodies.get("text/plain"),
                    "html": bodies.get("text/html"),
                }
            ),
            flush=True,
        )
        return "250 OK"


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def main():
    port = free_port()
    controller = Controller(Sink(), hostname="127.0.0.1", port=port)
    controller.start()
    print(json.dumps({"listening": port}), flush=True)
    try:
        sys.stdin.read()
    finally:
        controller.stop()


main()
