"""Kafka REST consumer groups across several instances on one PostgreSQL database (issue 24,
`shared_instances=true`; docs/storage.md "Kafka REST consumer groups"), with `requests` against two
`switchboard serve` processes: a group is served by one instance at a time, so no partition is delivered
by members on two instances at once. Creating a member on the other instance answers the proxy's 409
40903 until the group's last member on the first is gone (deleted, expired, or its instance killed).
"""

from __future__ import annotations

from interop import unique
from test_kafka_rest import Kafka
from test_storage_crash import kill9
from test_storage_postgres import PostgresServer, postgres  # noqa: F401  (the fixture)
from test_storage_postgres_shared import shared


def refused(kafka: Kafka, group: str, name: str) -> None:
    r = kafka.call("POST", f"/consumers/{group}", {"name": name})
    assert r.status_code == 409, r.text
    body = r.json()
    assert body["error_code"] == 40903, body
    assert "served by another instance" in body["message"], body


def test_a_consumer_group_is_served_by_one_instance_at_a_time(make_server, postgres):  # noqa: F811
    a, b = shared(make_server, postgres)
    on_a, on_b = Kafka(a), Kafka(b)
    group = unique("group")
    on_a.consumer(group, name="one")
    on_a.consumer(group, name="two")  # more members on the serving instance: fine
    refused(on_b, group, "three")
    on_b.consumer(unique("group"), name="elsewhere")  # other groups are not held

    assert on_a.call("DELETE", on_a.instance(group, "one")).status_code == 204
    refused(on_b, group, "three")  # "two" still serves it on A
    assert on_a.call("DELETE", on_a.instance(group, "two")).status_code == 204
    on_b.consumer(group, name="three")
    refused(on_a, group, "four")

    # The serving instance dies: the database lets go of its groups at once.
    kill9(b)
    on_a.consumer(group, name="four")
