"""Sample FX data for the demo database: ticks with random-walk prices and per-minute analysis results.

Plain PostgreSQL tables (no TimescaleDB needed), a few MB, made by the server itself so seeding
takes a second or two. Seeding twice adds nothing.
"""

from dataclasses import dataclass

from psycopg import sql

from backups_app.services.postgres.connection import Conn, connect

# pair, starting price, pip size, decimals
PAIRS = [
    ("USDJPY", "150.000", "0.01", 3),
    ("EURUSD", "1.08500", "0.0001", 5),
    ("GBPUSD", "1.27000", "0.0001", 5),
    ("AUDUSD", "0.66000", "0.0001", 5),
    ("USDCHF", "0.88000", "0.0001", 5),
    ("USDCAD", "1.36000", "0.0001", 5),
    ("EURJPY", "162.500", "0.01", 3),
    ("GBPJPY", "190.000", "0.01", 3),
]

SCHEMA = """
CREATE TABLE IF NOT EXISTS fx_ticks (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    pair text NOT NULL,
    ts timestamptz NOT NULL,
    bid numeric(12, 5) NOT NULL,
    ask numeric(12, 5) NOT NULL,
    volume integer NOT NULL CHECK (volume > 0)
);
CREATE INDEX IF NOT EXISTS fx_ticks_pair_ts ON fx_ticks (pair, ts);
COMMENT ON TABLE fx_ticks IS 'Price ticks per currency pair (sample data)';

CREATE TABLE IF NOT EXISTS analysis_results (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    pair text NOT NULL,
    timeframe text NOT NULL,
    period_start timestamptz NOT NULL,
    open numeric(12, 5) NOT NULL,
    high numeric(12, 5) NOT NULL,
    low numeric(12, 5) NOT NULL,
    close numeric(12, 5) NOT NULL,
    sma_20 numeric(12, 5) NOT NULL,
    volatility double precision,
    signal text NOT NULL CHECK (signal IN ('buy', 'sell', 'hold')),
    computed_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (pair, timeframe, period_start)
);
COMMENT ON TABLE analysis_results IS 'Per-minute bars, moving average and signal per pair (sample data)';
"""

# A random walk per pair, one tick every half second up to now.
TICKS = """
INSERT INTO fx_ticks (pair, ts, bid, ask, volume)
SELECT pair, ts, round((mid - spread / 2)::numeric, digits), round((mid + spread / 2)::numeric, digits), volume
FROM (
    SELECT p.pair, p.digits, p.pip * 1.2 AS spread,
           now() - (%(n)s - g) * interval '500 milliseconds' AS ts,
           p.base + p.pip * sum((random() - 0.5) * 4) OVER (PARTITION BY p.pair ORDER BY g) AS mid,
           (1 + floor(random() * 50))::int * 1000 AS volume
    FROM (SELECT * FROM unnest(%(pairs)s::text[], %(bases)s::numeric[], %(pips)s::numeric[], %(digits)s::int[]))
         AS p(pair, base, pip, digits),
         generate_series(1, %(n)s) AS g
) AS walk
ORDER BY ts, pair
"""

ANALYSIS = """
INSERT INTO analysis_results (pair, timeframe, period_start, open, high, low, close, sma_20, volatility, signal)
SELECT pair, '1m', minute, open, high, low, close, sma, volatility,
       CASE WHEN close > sma * 1.0002 THEN 'buy' WHEN close < sma * 0.9998 THEN 'sell' ELSE 'hold' END
FROM (
    SELECT *, avg(close) OVER (PARTITION BY pair ORDER BY minute ROWS 19 PRECEDING) AS sma
    FROM (
        SELECT pair, date_trunc('minute', ts) AS minute,
               (array_agg(bid ORDER BY ts))[1] AS open, max(bid) AS high, min(bid) AS low,
               (array_agg(bid ORDER BY ts DESC))[1] AS close, stddev_samp(bid)::float8 AS volatility
        FROM fx_ticks GROUP BY pair, date_trunc('minute', ts)
    ) AS bars
) AS s
ON CONFLICT (pair, timeframe, period_start) DO NOTHING
"""


@dataclass(frozen=True)
class SeedResult:
    ticks: int
    analysis_rows: int
    database_bytes: int
    created: bool


def database_ensure(*, conn: Conn) -> bool:
    """Create conn.dbname on the server when missing; True when it was created."""
    with connect(conn.with_dbname("postgres"), autocommit=True) as c:
        if c.execute("SELECT 1 FROM pg_database WHERE datname = %s", (conn.dbname,)).fetchone():
            return False
        c.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(conn.dbname)))
    return True


def fx_seed(*, conn: Conn, ticks_per_pair: int = 10_000) -> SeedResult:
    """Create the sample tables and fill them once."""
    database_ensure(conn=conn)
    with connect(conn, autocommit=True) as c:
        c.execute(SCHEMA)
        created = not c.execute("SELECT EXISTS (SELECT 1 FROM fx_ticks)").fetchone()[0]
        if created:
            with c.transaction():
                c.execute(TICKS, {"n": ticks_per_pair, "pairs": [p[0] for p in PAIRS],
                                  "bases": [p[1] for p in PAIRS], "pips": [p[2] for p in PAIRS],
                                  "digits": [p[3] for p in PAIRS]})
                c.execute(ANALYSIS)
            c.execute("ANALYZE fx_ticks, analysis_results")
        ticks = c.execute("SELECT count(*) FROM fx_ticks").fetchone()[0]
        analysis = c.execute("SELECT count(*) FROM analysis_results").fetchone()[0]
        size = c.execute("SELECT pg_database_size(current_database())").fetchone()[0]
    return SeedResult(ticks=ticks, analysis_rows=analysis, database_bytes=size, created=created)
