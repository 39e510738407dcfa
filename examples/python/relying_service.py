"""A Flask service that trusts Warden's access tokens.

It verifies each token itself with PyJWT from Warden's JWKS (no call per request) and follows
Warden's revocation feed (GET /oauth/revocations, Server-Sent Events) in a thread, so a token of
a logged-out session or a locked account is refused within a second, as Warden refuses it.

    WARDEN_URL=http://127.0.0.1:3000 WARDEN_ISSUER=http://localhost:3000 \
    WARDEN_CLIENT_ID=... WARDEN_CLIENT_SECRET=... flask --app relying_service run
"""
import json
import os
import random
import threading
import time
from functools import wraps

import jwt
import requests
from flask import Flask, g, jsonify, request

WARDEN_URL = os.environ.get("WARDEN_URL", "http://127.0.0.1:3000").rstrip("/")
ISSUER = os.environ.get("WARDEN_ISSUER", "http://localhost:3000")
AUDIENCE = os.environ.get("WARDEN_AUDIENCE", "warden")
CLIENT = (os.environ.get("WARDEN_CLIENT_ID", ""), os.environ.get("WARDEN_CLIENT_SECRET", ""))
ALGORITHMS = ["RS256", "ES256", "EdDSA"]


class Revocations:
    """What the feed says to refuse: revoked sessions, locked users, sessions admitted through an automatic lock."""

    def __init__(self):
        self.lock = threading.Lock()
        self.revoked, self.locked, self.reasons, self.admitted = {}, {}, {}, {}
        self.last_event_id = None
        self.ready = threading.Event()

    def apply(self, entry):
        kind, until = entry["kind"], entry["until"]
        with self.lock:
            if kind == "session_revoked":
                self.revoked[entry["session_id"]] = until
            elif kind == "lock":
                self.locked[entry["user_id"]] = until
                self.reasons[entry["user_id"]] = entry.get("reason", "admin")
            elif kind == "unlock":
                self.locked.pop(entry["user_id"], None)
            elif kind == "device_session":
                self.admitted[entry["session_id"]] = until

    def refusal(self, sub, sid):
        now = time.time()
        with self.lock:
            if self.revoked.get(sid, 0) > now:
                return 401, "token_revoked", "The access token has been revoked"
            if self.locked.get(sub, 0) > now:
                admitted = self.reasons.get(sub) == "auto_threshold" and self.admitted.get(sid, 0) > now
                if not admitted:
                    return 403, "account_locked", "The account is locked"
        return None

    def on_event(self, event, data, event_id):
        body = json.loads(data)
        if event == "snapshot":
            with self.lock:
                self.revoked, self.locked, self.reasons, self.admitted = {}, {}, {}, {}
            for entry in body["entries"]:
                self.apply(entry)
            self.ready.set()
        elif event == "change":
            self.apply(body)
        if event_id:
            self.last_event_id = event_id

    def follow(self):
        """Reads the feed forever, reconnecting with backoff and Last-Event-ID."""
        attempt = 0
        while True:
            headers = {"Accept": "text/event-stream"}
            if self.last_event_id:
                headers["Last-Event-ID"] = self.last_event_id
            try:
                with requests.get(f"{WARDEN_URL}/oauth/revocations", auth=CLIENT, headers=headers, stream=True, timeout=(5, 40)) as res:
                    res.raise_for_status()
                    attempt = 0
                    event, data, event_id = None, [], None
                    for line in res.iter_lines(decode_unicode=True):
                        if line == "":
                            if data:
                                self.on_event(event, "\n".join(data), event_id)
                            event, data, event_id = None, [], None
                        elif line.startswith("event:"):
                            event = line[6:].strip()
                        elif line.startswith("data:"):
                            data.append(line[5:].lstrip())
                        elif line.startswith("id:"):
                            event_id = line[3:].strip()
            except requests.RequestException as err:
                print(f"revocation feed: {err}; reconnecting", flush=True)
            attempt += 1
            time.sleep(min(30, 0.25 * 2 ** attempt) * (0.5 + random.random() / 2))


revocations = Revocations()
jwks = jwt.PyJWKClient(f"{WARDEN_URL}/.well-known/jwks.json", cache_keys=True)
app = Flask(__name__)


def refuse(status, code, message):
    res = jsonify(error=code, message=message)
    res.status_code = status
    challenge = 'Bearer realm="warden"' if code == "missing_token" else f'Bearer realm="warden", error="invalid_token", error_description="{message}"'
    if status == 401:
        res.headers["WWW-Authenticate"] = challenge
    return res


def require_token(view):
    """The origin posts' @jwt_required, with Warden's checks."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            return refuse(401, "missing_token", "A bearer token is required")
        try:
            if jwt.get_unverified_header(token).get("typ") != "at+jwt":
                raise jwt.InvalidTokenError("not an access token")
            key = jwks.get_signing_key_from_jwt(token).key
            claims = jwt.decode(token, key, algorithms=ALGORITHMS, audience=AUDIENCE, issuer=ISSUER, leeway=30,
                                options={"require": ["iss", "aud", "sub", "iat", "exp", "jti", "sid"]})
        except jwt.ExpiredSignatureError:
            return refuse(401, "token_expired", "The access token has expired")
        except (jwt.InvalidTokenError, jwt.PyJWKClientError):
            return refuse(401, "invalid_token", "The access token is invalid")
        refused = revocations.refusal(claims["sub"], claims["sid"])
        if refused:
            return refuse(*refused)
        g.claims = claims
        return view(*args, **kwargs)

    return wrapper


@app.get("/hello")
@require_token
def hello():
    return jsonify(hello=g.claims.get("preferred_username"), roles=g.claims.get("roles"))


def start_following():
    threading.Thread(target=revocations.follow, daemon=True).start()


if os.environ.get("WARDEN_CLIENT_ID"):
    start_following()
