"""Runs scim2-tester (the independent SCIM 2.0 checker) against /scim/v2 and prints each check.

    python3 bench/scim-conformance.py <base url of /scim/v2> <SCIM token>

Exit status 0 when no check ended in ERROR or CRITICAL (a MUST of RFC 7643/7644 broken), 1 otherwise.
"""
import sys
from collections import Counter

from httpx2 import Client
from scim2_client.engines.httpx2 import SyncSCIMClient
from scim2_tester import Status, check_server

base_url, token = sys.argv[1], sys.argv[2]
client = SyncSCIMClient(Client(base_url=base_url, headers={"Authorization": f"Bearer {token}"}, timeout=30))
results = check_server(client)

counts = Counter(r.status.name for r in results)
for r in results:
    where = f"[{r.resource_type}] " if r.resource_type else ""
    line = f"{r.status.name:10} {where}{r.title}"
    if r.status not in (Status.SUCCESS, Status.COMPLIANT, Status.SKIPPED):
        line += f" -- {r.reason}"
    print(line)
print()
print(f"{len(results)} checks: " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items())))
sys.exit(1 if counts["ERROR"] or counts["CRITICAL"] else 0)
