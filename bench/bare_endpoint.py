"""The baseline of bench/api_load.py: a bare FastAPI + SQLite endpoint.

``python bench/bare_endpoint.py --db FILE --port N [--load NAME BODY_FILE]`` serves
``GET /v1/clusters/{name}`` from one table row, ``clusters(name TEXT PRIMARY KEY, body
TEXT)`` (``--load`` writes it first), the body being a JSON document stored as text, and
nothing else: no authentication, no ORM model, no view.

What a developer would write for "return this row's JSON": a plain ``def`` route (FastAPI's
advice for a blocking driver), SQLAlchemy Core on the same SQLite settings as ndovu's store
(WAL, check_same_thread off), one SELECT by primary key, and the stored text handed back as
it is, with a 404 when there is no such row. It is served the way ndovu serves its API (see
ndovu.server.run): one process, a socket bound beforehand with a backlog of 2048, and
``uvicorn.Config(app, log_level="warning", access_log=False)``, so the two differ only in
what the application does.
"""

from __future__ import annotations

import argparse
import socket
import sqlite3
import sys
from pathlib import Path

import uvicorn
from fastapi import FastAPI, HTTPException, Response
from sqlalchemy import Column, MetaData, String, Table, Text, create_engine, select

metadata = MetaData()
clusters = Table("clusters", metadata, Column("name", String, primary_key=True),
                 Column("body", Text, nullable=False))


def store_body(db: Path, name: str, body: bytes) -> None:
    """Write the one row the endpoint serves (the body as ndovu answered it)."""
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("CREATE TABLE IF NOT EXISTS clusters (name TEXT PRIMARY KEY, "
                     "body TEXT NOT NULL)")
        conn.execute("INSERT OR REPLACE INTO clusters VALUES (?, ?)", (name, body.decode()))
    conn.close()


def create_app(db: Path) -> FastAPI:
    engine = create_engine(f"sqlite:///{db}", connect_args={"check_same_thread": False})
    app = FastAPI(title="bare")

    @app.get("/v1/clusters/{name}")
    def show_cluster(name: str) -> Response:
        with engine.connect() as conn:
            body = conn.execute(select(clusters.c.body)
                                .where(clusters.c.name == name)).scalar_one_or_none()
        if body is None:
            raise HTTPException(status_code=404, detail=f"no cluster named {name!r}")
        return Response(content=body, media_type="application/json")

    return app


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", type=Path, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--load", nargs=2, metavar=("NAME", "BODY_FILE"),
                        help="store this body as the row of this name before serving")
    args = parser.parse_args(argv)
    if args.load:
        store_body(args.db, args.load[0], Path(args.load[1]).read_bytes())
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((args.host, args.port))
    sock.listen(2048)
    config = uvicorn.Config(create_app(args.db), log_level="warning", access_log=False)
    uvicorn.Server(config).run(sockets=[sock])
    return 0


if __name__ == "__main__":
    sys.exit(main())
