"""What bench/workload.tags computes, for the implementations written without tagengine:
the lists its rules test against and its output columns in order."""

from __future__ import annotations

import datetime as dt

AS_OF = dt.date(2024, 12, 31)

TIER1 = ["北京", "上海", "广州", "深圳"]
NEW_TIER1 = ["成都", "杭州", "重庆", "武汉", "西安", "苏州", "南京", "天津", "长沙", "郑州"]
COASTAL = ["广东", "浙江", "江苏", "上海", "天津", "辽宁"]
PREMIUM = ["金卡", "钻石"]
MOBILE = r"^1[3-9][0-9]{9}$"

OUTPUT = [
    "customer_id",
    "female",
    "male",
    "young",
    "middle_aged",
    "senior",
    "tier1_city",
    "new_tier1_city",
    "coastal",
    "vip",
    "premium_member",
    "valid_mobile",
    "likely_responder",
    "tenure_days",
    "spend_90d",
    "spend_365d",
    "orders_90d",
    "orders_365d",
    "first_order",
    "last_order",
    "recency",
    "avg_order_value",
    "max_order_365d",
    "categories_365d",
    "return_rate",
    "online_share",
    "high_value",
    "frequent_buyer",
    "churn_risk",
    "sleeping",
    "never_purchased",
    "frequent_returner",
    "digital_native",
    "vip_at_risk",
    "r_score",
    "f_score",
    "m_score",
    "rfm_cell",
    "model_decile",
    "champion",
    "lifecycle",
    "value_tier",
]
