"""A writer process for the crash tests: appends and prints each seq once append() has returned.

Usage: crash_writer.py DB KEY_HEX TAG [COUNT]  (without COUNT it appends until killed).
"""

from __future__ import annotations

import sys

from quarterdeck.audit import AuditKey, AuditLog


def main() -> None:
    db, key_hex, tag = sys.argv[1:4]
    count = int(sys.argv[4]) if len(sys.argv) > 4 else None
    log = AuditLog(db, AuditKey(bytes.fromhex(key_hex)))
    i = 0
    while count is None or i < count:
        entry = log.append("note", {"writer": tag, "i": i, "pad": "x" * 200}, principal=tag)
        # One write per line, flushed: the test trusts every complete line it reads.
        sys.stdout.write(f"{entry.seq}\n")
        sys.stdout.flush()
        i += 1
    log.close()


if __name__ == "__main__":
    main()
