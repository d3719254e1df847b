"""Checks the published API contract against the real broker with schemathesis.

Started by `.ci/schemathesis` with a Python that can import the pinned
schemathesis. It starts the `datacoop` binary on a fresh
SQLite database on a loopback port, enrols a small co-op through the API
(members, a proxy, a third party with an OAuth2 access token, a pairwise
subject, rules, a delegation, a persona, stored data, an access-log entry)
so that the calls schemathesis generates reach the interesting paths, then
runs schemathesis with `schemathesis.toml` beside this file, and stops the
broker. The exit status is schemathesis's.

Usage: driver.py DATACOOP_BINARY WORK_DIR [--postgres SERVER_URL] [schemathesis run options]

With `--postgres`, the broker serves a database of its own, created on
that PostgreSQL server (through `psql`) for the run and dropped after it.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import requests

HERE = Path(__file__).resolve().parent
STARTUP_SECONDS = 30


class Database:
    """A fresh database for one run: an SQLite file in the work folder, or
    a database created on a PostgreSQL server and dropped afterwards."""

    def __init__(self, work: Path, postgres: str | None) -> None:
        self.server = postgres
        if postgres is None:
            for stale in work.glob("datacoop.db*"):
                stale.unlink()
            self.url = f"sqlite://{work / 'datacoop.db'}"
            return
        self.name = f"datacoop_contract_{secrets.token_hex(6)}"
        self._psql(f'CREATE DATABASE "{self.name}"')
        self.url = urlunsplit(urlsplit(postgres)._replace(path=f"/{self.name}"))

    def _psql(self, statement: str) -> None:
        assert self.server is not None
        subprocess.run(["psql", "--quiet", "--no-psqlrc", self.server, "-c", statement], check=True)

    def drop(self) -> None:
        if self.server is not None:
            self._psql(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


class Broker:
    """The `datacoop` binary, serving `database` on a loopback port."""

    def __init__(self, binary: Path, work: Path, database: Database, admin_token: str) -> None:
        self.log_path = work / "broker.log"
        env = {
            **os.environ,
            "DATACOOP_DATABASE_URL": database.url,
            "DATACOOP_ADMIN_TOKEN": admin_token,
            "DATACOOP_LOG_FORMAT": "json",
            # The enrolled webhooks include loopback ones (the published
            # pattern admits them; the server only with this setting).
            "DATACOOP_ALLOW_INSECURE_WEBHOOKS": "true",
            # The run checks the contract, not the limits: thousands of
            # requests from one address would otherwise be answered 429.
            "DATACOOP_RATE_LIMIT_TOKEN_PER_ADDRESS": "0",
            "DATACOOP_RATE_LIMIT_TOKEN_PER_CLIENT": "0",
            "DATACOOP_RATE_LIMIT_FAILED_AUTH_PER_ADDRESS": "0",
            # Likewise the per-member caps: one member of the run stores
            # hundreds of generated values and rules. (The caps themselves
            # are tested in broker/tests/broker/limits.rs and e2e settings.)
            "DATACOOP_MAX_RULES_PER_OWNER": "1000000",
            "DATACOOP_MAX_DELEGATIONS_PER_MEMBER": "100000",
            "DATACOOP_MAX_DATA_BYTES_PER_MEMBER": "17179869184",
        }
        env.pop("DATACOOP_POLICY_DIR", None)
        self.log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            [str(binary), "serve", "--listen", "127.0.0.1:0"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=self.log,
        )
        self.url = self._wait_for_address()
        # Keep reading standard output so the broker never blocks on it.
        threading.Thread(target=self._drain, daemon=True).start()

    def _wait_for_address(self) -> str:
        deadline = time.monotonic() + STARTUP_SECONDS
        assert self.process.stdout is not None
        while time.monotonic() < deadline:
            line = self.process.stdout.readline().decode().strip()
            if line.startswith("datacoop listening on "):
                return line.removeprefix("datacoop listening on ")
            if not line and self.process.poll() is not None:
                break
        self.stop()
        raise SystemExit(f"datacoop did not start; its log is {self.log_path}")

    def _drain(self) -> None:
        assert self.process.stdout is not None
        for _ in self.process.stdout:
            pass

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=STARTUP_SECONDS)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()


class Api:
    """Just enough of a client to enrol the co-op the run starts from."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.session = requests.Session()

    def call(self, method: str, path: str, token: str, body=None, expect: int = 200):
        response = self.session.request(
            method,
            self.url + path,
            json=body,
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        )
        if response.status_code != expect:
            raise SystemExit(
                f"seeding: {method} {path} answered {response.status_code}, "
                f"not {expect}: {response.text}"
            )
        return response.json() if response.content else None

    def access_token(self, client_id: str, client_secret: str) -> str:
        response = self.session.post(
            self.url + "/oauth2/token",
            data={
                "grant_type": "client_credentials",
                "client_id": client_id,
                "client_secret": client_secret,
            },
            timeout=30,
        )
        if response.status_code != 200:
            raise SystemExit(f"seeding: /oauth2/token answered {response.status_code}: {response.text}")
        return response.json()["access_token"]


def seed(api: Api, admin: str) -> tuple[dict[str, str], dict[str, list[str]]]:
    """Enrols the co-op; returns the tokens schemathesis calls with, and
    the values (ids, subjects, cursors, credentials) its dictionaries hold."""
    heart = api.call(
        "POST",
        "/v1/third-parties",
        admin,
        {"name": "Heart Study", "class": "academic", "webhook_url": "https://heart.example.org/hook"},
        expect=201,
    )
    shop = api.call("POST", "/v1/third-parties", admin, {"name": "Shop", "class": "commercial"}, expect=201)
    ada = api.call("POST", "/v1/members", admin, {"display_name": "Ada", "registry": "public"}, expect=201)
    bo = api.call("POST", "/v1/members", admin, {"display_name": "Bo", "registry": "anonymous"}, expect=201)
    cy = api.call("POST", "/v1/members", admin, {"registry": "public"}, expect=201)
    leaver = api.call("POST", "/v1/members", admin, {"display_name": "Lee", "registry": "public"}, expect=201)
    member = ada["token"]

    # Bo is a proxy with a rule of his own; Ada and Cy delegate to him.
    api.call("PATCH", "/v1/me", bo["token"], {"accepts_delegations": True})
    api.call(
        "POST",
        "/v1/me/rules",
        bo["token"],
        {"effect": "allow", "action": "*", "requester": "*", "data_categories": ["health"], "purposes": ["research"]},
        expect=201,
    )
    to_bo = api.call(
        "POST", "/v1/me/delegations", member, {"to": {"member": bo["id"]}, "purposes": ["research"]}, expect=201
    )
    api.call("POST", "/v1/me/delegations", cy["token"], {"to": {"member": bo["id"]}}, expect=201)

    persona = api.call(
        "POST",
        "/v1/personas",
        admin,
        {
            "name": "Research friend",
            "description": "Shares health data with academic research",
            "rules": [
                {
                    "effect": "allow",
                    "action": "access",
                    "requester": {"class": "academic"},
                    "data_categories": ["health"],
                    "purposes": ["research"],
                }
            ],
        },
        expect=201,
    )
    to_persona = api.call(
        "POST",
        "/v1/me/delegations",
        member,
        {"to": {"persona": persona["id"]}, "data_categories": ["health"]},
        expect=201,
    )
    coop_rule = api.call(
        "POST",
        "/v1/coop/rules",
        admin,
        {"effect": "deny", "action": "*", "requester": "*", "data_categories": ["location.precise"], "purposes": ["*"]},
        expect=201,
    )
    heart_rule = api.call(
        "POST",
        "/v1/me/rules",
        member,
        {
            "effect": "allow",
            "action": "access",
            "requester": {"third_party": heart["id"]},
            "data_categories": ["health.heart", "health.sleep"],
            "purposes": ["research.academic"],
            "expires_at": "2099-01-01T00:00:00Z",
        },
        expect=201,
    )
    no_shops = api.call(
        "POST",
        "/v1/me/rules",
        member,
        {"effect": "deny", "action": "*", "requester": {"class": "commercial"}, "data_categories": ["*"], "purposes": ["*"]},
        expect=201,
    )
    api.call("PUT", "/v1/me/data/health.heart", member, {"resting_bpm": 58}, expect=204)
    api.call("PUT", "/v1/me/data/location.coarse", member, "Lyon", expect=204)
    subject = api.call("POST", "/v1/me/connections", member, {"third_party": heart["id"]}, expect=201)["subject"]

    third_party = api.access_token(heart["client_id"], heart["client_secret"])
    api.call(
        "POST",
        "/v1/access",
        third_party,
        {"subject": subject, "data_categories": ["health.heart"], "purpose": "research.academic"},
    )
    cursors = [
        api.call("GET", "/v1/members?limit=1", admin)["next_cursor"],
        api.call("GET", "/v1/members?limit=3", admin)["next_cursor"],
        api.call("GET", "/v1/third-parties?limit=1", admin)["next_cursor"],
    ]
    env = {
        "DATACOOP_MEMBER_TOKEN": member,
        "DATACOOP_LEAVER_TOKEN": leaver["token"],
        "DATACOOP_THIRD_PARTY_TOKEN": third_party,
    }
    dictionaries = {
        "third_parties": [heart["id"], shop["id"]],
        "spare_third_parties": [shop["id"]],
        "client_ids": [heart["client_id"]],
        "client_secrets": [heart["client_secret"]],
        "subjects": [subject],
        "members": [ada["id"], bo["id"], leaver["id"]],
        "proxies": [bo["id"]],
        "personas": [persona["id"]],
        "member_rules": [heart_rule["id"], no_shops["id"]],
        "coop_rules": [coop_rule["id"]],
        "delegations": [to_bo["id"], to_persona["id"]],
        "cursors": cursors,
        # Later than any run's now, and every `earlier` before every `later`.
        "later": ["2099-01-01T00:00:00Z", "2150-06-30T12:30:00.123456+02:00", "9999-12-31T23:59:59Z"],
        "earlier": ["1970-01-01T00:00:00Z", "2001-09-09T01:46:40Z", "2098-12-31T18:00:00-05:00"],
        "webhooks": [
            "https://heart.example.org/hook",
            "https://hooks.example.com:8443/datacoop?v=1",
            "http://localhost:8080/hook",
            "http://127.0.0.1/hook",
            "http://[::1]:9000/",
        ],
    }
    return env, dictionaries


def configuration(dictionaries: dict[str, list[str]]) -> str:
    """`schemathesis.toml` with the enrolled values as its dictionaries."""
    text = (HERE / "schemathesis.toml").read_text()
    for name, values in dictionaries.items():
        entries = ", ".join(json.dumps(value) for value in values)
        text += f"\n[dictionaries.{name}]\nvalues = [{entries}]\n"
    return text


def main() -> int:
    if len(sys.argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    binary = Path(sys.argv[1]).resolve()
    work = Path(sys.argv[2]).resolve()
    extra = sys.argv[3:]
    postgres = None
    if extra[:1] == ["--postgres"]:
        if len(extra) < 2:
            print(__doc__, file=sys.stderr)
            return 2
        postgres, extra = extra[1], extra[2:]
    work.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(work / "report", ignore_errors=True)
    admin = "dca_" + secrets.token_hex(32)
    database = Database(work, postgres)
    try:
        broker = Broker(binary, work, database, admin)
    except BaseException:
        database.drop()
        raise
    try:
        api = Api(broker.url)
        tokens, dictionaries = seed(api, admin)
        env = {**os.environ, "DATACOOP_ADMIN_TOKEN": admin, **tokens}
        config = work / "schemathesis.toml"
        config.write_text(configuration(dictionaries))
        where = "PostgreSQL" if postgres else "SQLite"
        print(f"broker at {broker.url} on {where}, co-op enrolled; log: {broker.log_path}", flush=True)
        command = [
            sys.executable,
            "-c",
            "import sys; from schemathesis.cli import schemathesis; sys.exit(schemathesis())",
            "--config-file",
            str(config),
            "run",
            f"{broker.url}/openapi.json",
            "--report",
            "junit,ndjson",
            "--report-dir",
            str(work / "report"),
            *extra,
        ]
        completed = subprocess.run(command, env=env, cwd=work, check=False)
        if broker.process.poll() is not None:
            print(f"datacoop exited during the run; its log is {broker.log_path}", file=sys.stderr)
            return 1
        return completed.returncode
    finally:
        broker.stop()
        database.drop()


if __name__ == "__main__":
    sys.exit(main())
