"""The test PostgreSQL server (tests/postgres.py) is real: it stores and returns rows, and each
test's database is its own."""

from __future__ import annotations

import psycopg

from postgres import PostgresServer


def test_a_fresh_database_stores_and_returns_rows(postgres_url: str) -> None:
    with psycopg.connect(postgres_url) as connection:
        connection.execute("CREATE TABLE shots (id integer PRIMARY KEY, name text NOT NULL)")
        connection.execute("INSERT INTO shots VALUES (%s, %s)", (7, "sh010_ø"))
        connection.commit()
    with psycopg.connect(postgres_url) as connection:
        rows = connection.execute("SELECT id, name FROM shots").fetchall()
        encoding = connection.execute("SHOW server_encoding").fetchone()
        address = connection.execute("SELECT inet_server_addr()::text").fetchone()
    assert rows == [(7, "sh010_ø")]
    assert encoding == ("UTF8",)
    assert address == ("127.0.0.1/32",)


def test_fresh_databases_are_separate(postgres_server: PostgresServer) -> None:
    first = postgres_server.fresh_database("separate_first")
    second = postgres_server.fresh_database("separate_second")
    assert first != second
    with psycopg.connect(first) as connection:
        connection.execute("CREATE TABLE only_here (n integer)")
        connection.execute("INSERT INTO only_here VALUES (1)")
    with psycopg.connect(second) as connection:
        found = connection.execute("SELECT to_regclass('only_here')").fetchone()
    with psycopg.connect(first) as connection:
        count = connection.execute("SELECT count(*) FROM only_here").fetchone()
    assert found == (None,)
    assert count == (1,)
    postgres_server.drop_database("separate_first")
    postgres_server.drop_database("separate_second")


def test_the_server_listens_on_loopback_only(postgres_server: PostgresServer) -> None:
    with psycopg.connect(postgres_server.url) as connection:
        listen = connection.execute("SHOW listen_addresses").fetchone()
        database = connection.execute("SELECT current_database(), current_user").fetchone()
    assert listen == ("127.0.0.1",)
    assert database == ("uprez", "uprez")
    assert postgres_server.url == f"postgresql://uprez@127.0.0.1:{postgres_server.port}/uprez"
