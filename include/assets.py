"""The Airflow Assets through which the DAGs hand over to each other (cheap to import)."""

from __future__ import annotations

from airflow.sdk import Asset

from include import contract

# Updated by the validation DAG when an interval's events, customers and products passed.
VALIDATED_INTERACTIONS = Asset(name="validated_interactions", uri="shopflow://warehouse/interactions")
# Updated by the validation DAG when an interval's orders, order items and chargebacks passed.
VALIDATED_ORDERS = Asset(name="validated_orders", uri="shopflow://warehouse/orders")
# Updated when a new version of a published table is live.
RECOMMENDATIONS = Asset(name="recommendations", uri="shopflow://warehouse/recommendations")
SIMILAR_PRODUCTS = Asset(name="similar_products", uri="shopflow://warehouse/similar_products")
ORDER_RISK_SCORES = Asset(name="order_risk_scores", uri="shopflow://warehouse/order_risk_scores")

# The source tables behind each validated Asset: what its consumer DAG reads, as the data contract
# declares (include/contract.toml). A failed check on a table holds back only the Assets that
# need it: a shop whose events fail still gets risk scores.
INTERACTION_TABLES = contract.load().consumers["recommendations"]
ORDER_TABLES = contract.load().consumers["order_risk"]
