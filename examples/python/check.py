"""Runs relying_service.py against a Warden and checks what a user would see: a token accepted, then
refused within a second of a logout-all, and a forged token refused. Exit status 0 when all hold."""
import os
import sys
import threading
import time

import requests
from werkzeug.serving import make_server

import relying_service

WARDEN = relying_service.WARDEN_URL
failures = []


def check(ok, what):
    print(("ok      " if ok else "FAILED  ") + what, flush=True)
    if not ok:
        failures.append(what)


def main():
    if not relying_service.revocations.ready.wait(30):
        check(False, "the feed's first snapshot arrived")
        return
    server = make_server("127.0.0.1", 0, relying_service.app)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_port}"

    user = {"username": f"py{int(time.time())}", "password": "correct horse battery staple"}
    requests.post(f"{WARDEN}/auth/register", json=user, timeout=10)
    tokens = requests.post(f"{WARDEN}/auth/login", json=user, timeout=10).json()
    auth = {"Authorization": f"Bearer {tokens['access_token']}"}

    res = requests.get(f"{base}/hello", headers=auth, timeout=10)
    check(res.status_code == 200 and res.json()["hello"] == user["username"], f"a valid token is accepted ({res.status_code})")
    res = requests.get(f"{base}/hello", timeout=10)
    check(res.status_code == 401 and res.json()["error"] == "missing_token", "no token: 401 missing_token")
    forged = tokens["access_token"][:-4] + "AAAA"
    res = requests.get(f"{base}/hello", headers={"Authorization": f"Bearer {forged}"}, timeout=10)
    check(res.status_code == 401 and res.json()["error"] == "invalid_token", "a tampered token: 401 invalid_token")

    check(requests.post(f"{WARDEN}/auth/logout-all", headers=auth, timeout=10).status_code == 204, "logout-all on Warden")
    start = time.monotonic()
    status = None
    while time.monotonic() - start < 1.0:
        res = requests.get(f"{base}/hello", headers=auth, timeout=10)
        status = (res.status_code, res.json().get("error"))
        if status == (401, "token_revoked"):
            break
        time.sleep(0.01)
    elapsed = int((time.monotonic() - start) * 1000)
    check(status == (401, "token_revoked"), f"the logged-out token is refused within a second ({status}, after {elapsed} ms)")
    server.shutdown()


if __name__ == "__main__":
    main()
    sys.exit(1 if failures else 0)
