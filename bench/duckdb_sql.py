"""bench/workload.tags as one DuckDB SQL query over the Parquet files.

One aggregation over the visible orders with FILTER clauses, one join, window NTILEs.
DuckDB runs with as many threads as there are cores; the result comes back as Polars
through Arrow, cast to the exact dtypes tagengine gives (only where SQL's differ).
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import duckdb
import polars as pl
from workload_spec import COASTAL, MOBILE, NEW_TIER1, OUTPUT, PREMIUM, TIER1

QUERY = """
WITH
stats AS (
    SELECT
        customer_id,
        sum(amount) FILTER (WHERE order_date > $d90 AND NOT returned)  AS spend_90d,
        sum(amount) FILTER (WHERE order_date > $d365 AND NOT returned) AS spend_365d,
        count(*) FILTER (WHERE order_date > $d90)                      AS orders_90d,
        count(*) FILTER (WHERE order_date > $d365)                     AS orders_365d,
        min(order_date)                                                AS first_order,
        max(order_date)                                                AS last_order,
        avg(amount) FILTER (WHERE order_date > $d365 AND NOT returned) AS avg_order_value,
        max(amount) FILTER (WHERE order_date > $d365)                  AS max_order_365d,
        count(DISTINCT category) FILTER (WHERE order_date > $d365)     AS categories_365d,
        count(*) FILTER (WHERE order_date > $d365 AND returned)        AS returned_365d,
        count(*) FILTER (WHERE order_date > $d365 AND channel <> 'store') AS online_365d
    FROM read_parquet($orders)
    WHERE order_date <= $as_of               -- later orders are invisible
    GROUP BY customer_id
),
base AS (
    SELECT
        c.customer_id, c.gender, c.age, c.city, c.province, c.member_level, c.is_vip,
        c.phone,
        CASE WHEN isnan(c.model_score) THEN NULL ELSE c.model_score END AS model_score,
        date_diff('day', c.signup_date, $as_of)      AS tenure_days,
        coalesce(s.spend_90d, 0)                      AS spend_90d,
        coalesce(s.spend_365d, 0)                     AS spend_365d,
        coalesce(s.orders_90d, 0)                     AS orders_90d,
        coalesce(s.orders_365d, 0)                    AS orders_365d,
        s.first_order,
        s.last_order,
        date_diff('day', s.last_order, $as_of)        AS recency,
        s.avg_order_value,
        s.max_order_365d,
        coalesce(s.categories_365d, 0)                AS categories_365d,
        CASE WHEN s.orders_365d > 0 THEN s.returned_365d / s.orders_365d END AS return_rate,
        CASE WHEN s.orders_365d > 0 THEN s.online_365d / s.orders_365d END   AS online_share
    FROM read_parquet($customers) c
    LEFT JOIN stats s USING (customer_id)
),
-- NTILE over the customers with a known value only: the NULLs get their own partition
scored AS (
    SELECT *,
        CASE WHEN recency IS NOT NULL THEN ntile(5) OVER (
            PARTITION BY recency IS NULL ORDER BY recency DESC, customer_id) END AS r_score,
        ntile(5) OVER (ORDER BY orders_365d, customer_id)                       AS f_score,
        ntile(5) OVER (ORDER BY spend_365d, customer_id)                        AS m_score,
        CASE WHEN model_score IS NOT NULL THEN ntile(10) OVER (
            PARTITION BY model_score IS NULL ORDER BY model_score DESC, customer_id)
        END AS model_decile
    FROM base
),
tagged AS (
    SELECT *,
        coalesce(gender = 'F', false)                     AS female,
        coalesce(gender = 'M', false)                     AS male,
        coalesce(age BETWEEN 18 AND 24, false)            AS young,
        coalesce(age BETWEEN 35 AND 54, false)            AS middle_aged,
        coalesce(age >= 55, false)                        AS senior,
        coalesce(city IN ({tier1}), false)                AS tier1_city,
        coalesce(city IN ({new_tier1}), false)            AS new_tier1_city,
        coalesce(province IN ({coastal}), false)          AS coastal,
        coalesce(is_vip, false)                           AS vip,
        coalesce(member_level IN ({premium}), false)      AS premium_member,
        coalesce(regexp_matches(phone, '{mobile}'), false) AS valid_mobile,
        coalesce(model_score >= 0.6, false)               AS likely_responder,
        coalesce(spend_90d > 3000, false)                 AS high_value,
        coalesce(orders_365d >= 12, false)                AS frequent_buyer,
        coalesce(recency > 180 AND orders_365d >= 2, false) AS churn_risk,
        coalesce(recency > 365, false)                    AS sleeping,
        last_order IS NULL                                AS never_purchased,
        coalesce(return_rate > 0.2 AND orders_365d >= 3, false) AS frequent_returner,
        coalesce(online_share >= 0.8, false)              AS digital_native,
        r_score * 100 + f_score * 10 + m_score            AS rfm_cell,
        coalesce(r_score >= 4 AND f_score >= 4 AND m_score >= 4, false) AS champion,
        CASE
            WHEN tenure_days <= 30 THEN 'new'
            WHEN recency <= 90 THEN 'active'
            WHEN recency <= 180 THEN 'lapsing'
            WHEN recency IS NOT NULL THEN 'lost'
            ELSE 'never_purchased'
        END AS lifecycle,
        CASE
            WHEN spend_365d >= 10000 THEN 'gold'
            WHEN spend_365d >= 3000 THEN 'silver'
            WHEN spend_365d > 0 THEN 'bronze'
            ELSE 'none'
        END AS value_tier
    FROM scored
)
SELECT {output}
FROM tagged
ORDER BY customer_id
"""


def sql_list(values: list[str]) -> str:
    return ", ".join("'" + v.replace("'", "''") + "'" for v in values)


def query() -> str:
    output = [c if c != "vip_at_risk" else "vip AND churn_risk AS vip_at_risk" for c in OUTPUT]
    return QUERY.format(
        tier1=sql_list(TIER1),
        new_tier1=sql_list(NEW_TIER1),
        coastal=sql_list(COASTAL),
        premium=sql_list(PREMIUM),
        mobile=MOBILE.replace("'", "''"),
        output=", ".join(output),
    )


def evaluate(data_dir: Path, as_of: dt.date) -> pl.DataFrame:
    data_dir = Path(data_dir)
    params = {
        "orders": str(data_dir / "orders.parquet"),
        "customers": str(data_dir / "customers.parquet"),
        "as_of": as_of,
        "d90": as_of - dt.timedelta(days=90),
        "d365": as_of - dt.timedelta(days=365),
    }
    with duckdb.connect(config={"threads": os.cpu_count() or 1}) as con:
        return con.sql(query(), params=params).pl()
